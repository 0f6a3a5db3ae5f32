-- grain: one row per bureau event
with

source as (

    {{ ar_latest_delivery(source('bureau', 'bureau_events'), ['event_id']) }}

),

final as (

    select
        event_id,
        subject_id,
        uscc,
        event_date,
        lower(event_type) as event_type,
        amount as event_amount,
        description as event_description,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
