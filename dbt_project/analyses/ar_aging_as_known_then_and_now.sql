-- AR aging at a past month-end twice: as the nightly run of that month-end saw it (known_on = the
-- month-end, what the snapshot table holds) and with everything loaded since (late files,
-- corrections). The difference is what the warehouse learned afterwards about that day.
-- Compile with: dbt compile --select analysis:ar_aging_as_known_then_and_now --vars '{as_of_date: 2026-03-31}'
with

known_then as (

    select aging_bucket, aging_bucket_order, currency, sum(open_amount) as open_amount
    from marts.ar_open_items_as_of({{ as_of_date() }}, {{ as_of_date() }})
    group by aging_bucket, aging_bucket_order, currency

),

known_now as (

    select aging_bucket, aging_bucket_order, currency, sum(open_amount) as open_amount
    from marts.ar_open_items_as_of({{ as_of_date() }})
    group by aging_bucket, aging_bucket_order, currency

),

final as (

    select
        coalesce(known_then.currency, known_now.currency) as currency,
        coalesce(known_then.aging_bucket, known_now.aging_bucket) as aging_bucket,
        coalesce(known_then.open_amount, 0) as open_amount_known_then,
        coalesce(known_now.open_amount, 0) as open_amount_known_now,
        coalesce(known_now.open_amount, 0) - coalesce(known_then.open_amount, 0) as learned_since
    from known_then
    full outer join known_now
        on known_then.aging_bucket = known_now.aging_bucket
        and known_then.currency = known_now.currency
    order by 1, coalesce(known_then.aging_bucket_order, known_now.aging_bucket_order)

)

select * from final
