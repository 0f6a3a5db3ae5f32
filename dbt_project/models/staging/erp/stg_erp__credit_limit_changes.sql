-- grain: one row per customer and limit validity start
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_credit_limits'), ['customer_id', 'valid_from']) }}

),

final as (

    select
        customer_id,
        valid_from,
        credit_limit,
        currency as credit_limit_currency,
        previous_limit,
        changed_by,
        change_reason,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
