-- grain: one row per month-end and pair of consecutive aging buckets (from -> to)
--
-- Roll rate from bucket A to bucket B = balance in B at month-end t / balance in A at month-end
-- t-1 (docs/domain.md), for each bucket and the next one (current -> 1-30, ..., 91-180 -> 180+).
-- Balances in CNY at the rate known on each month-end, from the month-end open-items snapshots.
with

snapshots as (

    select * from {{ ref('fct_ar_open_items_snapshots') }}
    where is_month_end

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}

),

bucket_balances as (

    select
        snapshots.as_of_date,
        snapshots.aging_bucket_order,
        sum(snapshots.open_amount * coalesce(fx_rates.cny_per_unit, 1)) as open_amount
    from snapshots
    left join fx_rates
        on snapshots.currency = fx_rates.currency
        and snapshots.as_of_date >= fx_rates.known_from_date
        and (fx_rates.known_to_date is null or snapshots.as_of_date < fx_rates.known_to_date)
    group by snapshots.as_of_date, snapshots.aging_bucket_order

),

month_ends as (

    select distinct as_of_date from snapshots

),

buckets as (

    select
        bucket_order,
        (array['current', '1-30', '31-60', '61-90', '91-180', '180+'])[bucket_order + 1] as aging_bucket
    from generate_series(0, 5) as bucket_order

),

pairs as (

    select
        month_ends.as_of_date,
        from_bucket.bucket_order as from_bucket_order,
        from_bucket.aging_bucket as from_bucket,
        to_bucket.aging_bucket as to_bucket
    from month_ends
    cross join buckets as from_bucket
    inner join buckets as to_bucket
        on to_bucket.bucket_order = from_bucket.bucket_order + 1

),

final as (

    select
        pairs.as_of_date,
        (date_trunc('month', pairs.as_of_date) - interval '1 day')::date as previous_month_end_date,
        pairs.from_bucket,
        pairs.to_bucket,
        'CNY' as currency,
        coalesce(from_balance.open_amount, 0)::numeric(18, 2) as from_bucket_previous_amount,
        coalesce(to_balance.open_amount, 0)::numeric(18, 2) as to_bucket_amount,
        round(coalesce(to_balance.open_amount, 0) / nullif(from_balance.open_amount, 0), 4) as roll_rate
    from pairs
    left join bucket_balances as from_balance
        on (date_trunc('month', pairs.as_of_date) - interval '1 day')::date = from_balance.as_of_date
        and pairs.from_bucket_order = from_balance.aging_bucket_order
    left join bucket_balances as to_balance
        on pairs.as_of_date = to_balance.as_of_date
        and pairs.from_bucket_order + 1 = to_balance.aging_bucket_order
    where (date_trunc('month', pairs.as_of_date) - interval '1 day')::date in (select as_of_date from month_ends)

)

select * from final
