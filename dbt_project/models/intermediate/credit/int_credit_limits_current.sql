-- grain: one row per customer: the credit limit change with the latest validity start on or
-- before the as-of date (the limit in force), for the SCD2 snapshot snap_erp_credit_limits
with

limit_changes as (

    select * from {{ ref('stg_erp__credit_limit_changes') }}
    where valid_from <= {{ as_of_date() }}

),

final as (

    select distinct on (customer_id)
        customer_id,
        valid_from,
        credit_limit,
        credit_limit_currency::text as credit_limit_currency,
        changed_by,
        change_reason,
        loaded_at
    from limit_changes
    order by customer_id, valid_from desc, batch_id desc

)

select * from final
