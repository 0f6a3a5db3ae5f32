-- grain: one row per ERP customer, as in its latest delivery
with

source as (

    select * from {{ source('erp', 'erp_customers') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        customer_id,
        customer_name,
        uscc,
        payment_terms,
        credit_limit,
        currency as credit_limit_currency,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
