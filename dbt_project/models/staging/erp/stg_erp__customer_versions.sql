-- grain: one row per ERP customer and delivery (load batch) that carried it
--
-- The customer master arrives as a full extract monthly and deltas daily; stg_erp__customers keeps
-- the latest delivery, this model keeps every delivery so that the marts can read the master as
-- it was known on a past date (point in time). Duplicate lines of one delivery: the last wins.
with

source as (

    select
        *,
        row_number() over (
            partition by customer_id, _batch_id
            order by _source_line desc
        ) as line_rank
    from {{ source('erp', 'erp_customers') }}

),

final as (

    select
        customer_id,
        customer_name,
        uscc,
        coalesce(country, 'CN') as country_code,
        city,
        industry,
        parent_customer_id,
        payment_terms,
        coalesce(nullif(regexp_replace(payment_terms, '\D', '', 'g'), ''), '30')::int as payment_terms_days,
        credit_limit,
        currency as credit_limit_currency,
        coalesce(status, 'active') as customer_status,
        created_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    where line_rank = 1

)

select * from final
