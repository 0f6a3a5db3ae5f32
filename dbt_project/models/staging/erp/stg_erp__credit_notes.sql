-- grain: one row per credit note
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_credit_notes'), ['credit_note_id']) }}

),

final as (

    select
        credit_note_id,
        invoice_id,
        customer_id,
        credit_note_date,
        currency,
        amount as credit_note_amount,
        reason as credit_note_reason,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
