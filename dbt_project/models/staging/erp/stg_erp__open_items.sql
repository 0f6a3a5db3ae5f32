-- grain: one row per invoice in the ERP's open-items report of a month-end
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_open_items'), ['as_of_date', 'invoice_id']) }}

),

final as (

    select
        as_of_date,
        invoice_id,
        customer_id,
        currency,
        open_amount,
        due_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
