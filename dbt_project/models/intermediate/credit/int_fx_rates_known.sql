-- grain: one row per currency and knowledge period of its rate to CNY: the rate that was the
-- latest known from `known_from_date` (inclusive) to `known_to_date` (exclusive, null = current)
--
-- A rate counts from greatest(rate date, known date); a rate known late for an older date never
-- replaces a newer one. CNY itself has no rate (factor 1).
with

fx_rates as (

    select * from {{ ref('stg_erp__fx_rates') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

dated as (

    select
        fx_rates.currency::text as currency,
        fx_rates.rate_date,
        fx_rates.cny_per_unit,
        greatest(fx_rates.rate_date, load_batches.known_date) as effective_date
    from fx_rates
    inner join load_batches
        on fx_rates.first_batch_id = load_batches.batch_id

),

ordered as (

    select
        *,
        max(rate_date) over (
            partition by currency
            order by effective_date, rate_date
            rows between unbounded preceding and 1 preceding
        ) as earlier_max_rate_date
    from dated

),

taking_over as (

    select * from ordered
    where earlier_max_rate_date is null or rate_date > earlier_max_rate_date

),

final as (

    select
        currency,
        rate_date,
        cny_per_unit,
        effective_date as known_from_date,
        lead(effective_date) over (partition by currency order by effective_date, rate_date) as known_to_date
    from taking_over

)

select * from final
