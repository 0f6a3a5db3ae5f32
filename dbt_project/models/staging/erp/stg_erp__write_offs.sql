-- grain: one row per write-off
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_write_offs'), ['write_off_id']) }}

),

final as (

    select
        write_off_id,
        invoice_id,
        customer_id,
        write_off_date,
        currency,
        amount as write_off_amount,
        reason as write_off_reason,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
