-- grain: one row per ERP customer and knowledge period: the master record as the warehouse knew
-- it from `known_from_date` (inclusive) to `known_to_date` (exclusive; null = still current)
--
-- Several deliveries on one business date: the last loaded wins. Unchanged re-deliveries are
-- kept as periods of their own (the monthly full extract): harmless, they carry the same values.
with

customer_versions as (

    select * from {{ ref('stg_erp__customer_versions') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

dated as (

    select
        customer_versions.*,
        load_batches.known_date as known_date,
        row_number() over (
            partition by customer_versions.customer_id, load_batches.known_date
            order by customer_versions.batch_id desc
        ) as rank_in_day
    from customer_versions
    inner join load_batches
        on customer_versions.batch_id = load_batches.batch_id

),

final as (

    select
        customer_id,
        customer_name,
        uscc,
        country_code,
        city,
        industry,
        parent_customer_id,
        payment_terms,
        payment_terms_days,
        credit_limit,
        credit_limit_currency::text as credit_limit_currency,
        customer_status,
        known_date as known_from_date,
        lead(known_date) over (partition by customer_id order by known_date) as known_to_date,
        min(known_date) over (partition by customer_id) as first_known_date,
        loaded_at as known_at
    from dated
    where rank_in_day = 1

)

select * from final
