-- grain: one row per field rejection of a landing-file line at ingestion
with

source as (

    select * from {{ source('ingestion', 'quarantine') }}

),

final as (

    select
        batch_id,
        feed,
        source_file,
        source_line,
        field as rejected_field,
        reason as rejection_reason,
        -- the line as delivered; null for feeds with personal data (only its ciphertext is kept)
        original_text,
        original_text_encrypted is not null as is_encrypted,
        quarantined_at
    from source

)

select * from final
