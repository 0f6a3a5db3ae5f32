-- grain: one row per invoice, as in its latest delivery
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_invoices'), ['invoice_id']) }}

),

final as (

    select
        invoice_id,
        customer_id,
        order_id,
        invoice_date,
        due_date,
        payment_terms,
        currency,
        amount as invoice_amount,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
