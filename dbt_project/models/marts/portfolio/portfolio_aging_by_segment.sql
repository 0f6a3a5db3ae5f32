-- grain: one row per snapshot date (month-ends and the latest as-of date), customer segment and
-- aging bucket with open items; amounts in CNY at the latest rate known on the snapshot date
--
-- Segment: the customer's industry in the ERP master as known on the snapshot date.
with

snapshots as (

    select * from {{ ref('fct_ar_open_items_snapshots') }}

),

customers as (

    select * from {{ ref('int_customers_versioned') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}

),

segmented as (

    select
        snapshots.as_of_date,
        snapshots.is_month_end,
        coalesce(customers.industry, 'unknown') as segment,
        snapshots.aging_bucket,
        snapshots.aging_bucket_order,
        snapshots.customer_id,
        snapshots.open_amount * coalesce(fx_rates.cny_per_unit, 1) as open_amount_cny
    from snapshots
    left join customers
        on snapshots.customer_id = customers.customer_id
        and customers.known_from_date <= snapshots.as_of_date
        and (customers.known_to_date is null or customers.known_to_date > snapshots.as_of_date)
    left join fx_rates
        on snapshots.currency = fx_rates.currency
        and snapshots.as_of_date >= fx_rates.known_from_date
        and (fx_rates.known_to_date is null or snapshots.as_of_date < fx_rates.known_to_date)

),

aggregated as (

    select
        as_of_date,
        is_month_end,
        segment,
        aging_bucket,
        aging_bucket_order,
        sum(open_amount_cny) as open_amount,
        count(*) as open_item_count,
        count(distinct customer_id) as customer_count
    from segmented
    group by as_of_date, is_month_end, segment, aging_bucket, aging_bucket_order

),

final as (

    select
        as_of_date,
        is_month_end,
        segment,
        aging_bucket,
        aging_bucket_order,
        'CNY' as currency,
        open_amount::numeric(18, 2) as open_amount,
        open_item_count,
        customer_count,
        round(open_amount / nullif(sum(open_amount) over (partition by as_of_date, segment), 0), 4)
            as share_of_segment_open_amount
    from aggregated

)

select * from final
