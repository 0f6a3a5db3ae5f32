-- grain: one row per invoice cohort (invoice month) and month since invoice, up to the as-of month
--
-- Vintage (docs/domain.md): the cumulative share of a cohort's invoices that reached 90+ days past
-- due by the end of each month since the invoice month (0 = the invoice month). An invoice reaches
-- 90+ DPD on due date + 90 when it is still open then (as of the as-of date, as known on it).
-- Shares by count and by amount (invoice amounts in CNY at the latest rate known on the as-of date).
with

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}
    where known_from_date <= {{ as_of_date() }}
        and (known_to_date is null or known_to_date > {{ as_of_date() }})

),

as_of_dates as (

    select {{ as_of_date() }} as as_of_date, {{ as_of_date() }} as known_on_date

),

settlements as (

    {{ ar_invoice_settlements('ledger_lines', 'as_of_dates') | indent(4) }}

),

invoices as (

    select
        settlements.invoice_id,
        date_trunc('month', settlements.invoice_date)::date as cohort_month,
        settlements.invoice_amount * coalesce(fx_rates.cny_per_unit, 1) as invoice_amount_cny,
        case
            when settlements.due_date + 90 <= {{ as_of_date() }}
                and (settlements.settled_date is null or settlements.settled_date > settlements.due_date + 90)
                then settlements.due_date + 90
        end as reached_90_dpd_date
    from settlements
    left join fx_rates
        on settlements.currency = fx_rates.currency

),

with_month_index as (

    select
        *,
        (extract(year from reached_90_dpd_date) - extract(year from cohort_month)) * 12
        + extract(month from reached_90_dpd_date) - extract(month from cohort_month) as reached_month_index
    from invoices

),

cohorts as (

    select
        cohort_month,
        count(*) as cohort_invoice_count,
        sum(invoice_amount_cny) as cohort_amount
    from with_month_index
    group by cohort_month

),

grid as (

    select
        cohorts.*,
        months_since_invoice
    from cohorts
    cross join lateral generate_series(
        0,
        ((extract(year from {{ as_of_date() }}) - extract(year from cohorts.cohort_month)) * 12
        + extract(month from {{ as_of_date() }}) - extract(month from cohorts.cohort_month))::integer
    ) as months_since_invoice

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        grid.cohort_month,
        grid.months_since_invoice,
        'CNY' as currency,
        grid.cohort_invoice_count,
        grid.cohort_amount::numeric(18, 2) as cohort_amount,
        count(with_month_index.invoice_id) as reached_90_dpd_count,
        coalesce(sum(with_month_index.invoice_amount_cny), 0)::numeric(18, 2) as reached_90_dpd_amount,
        round(count(with_month_index.invoice_id)::numeric / grid.cohort_invoice_count, 4)
            as cumulative_share_90_dpd_count,
        round(coalesce(sum(with_month_index.invoice_amount_cny), 0) / nullif(grid.cohort_amount, 0), 4)
            as cumulative_share_90_dpd_amount
    from grid
    left join with_month_index
        on grid.cohort_month = with_month_index.cohort_month
        and with_month_index.reached_month_index <= grid.months_since_invoice
    group by grid.cohort_month, grid.months_since_invoice, grid.cohort_invoice_count, grid.cohort_amount

)

select * from final
