-- grain: one row per sales order and status (open, invoiced, cancelled)
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_sales_orders'), ['order_id', 'status']) }}

),

final as (

    select
        order_id,
        customer_id,
        order_date,
        currency,
        order_amount,
        lower(status) as order_status,
        status_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
