{#- Credit sales per customer and month for the dates in `snapshot_dates` (a relation or CTE with
    column as_of_date): the logic of int_customer_sales_by_month. -#}
{% macro ar_customer_sales_by_month(snapshot_dates) -%}
with

invoice_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}
    where document_type = 'invoice'

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}

),

months as (

    select
        snapshot_dates.as_of_date,
        month_index,
        (date_trunc('month', snapshot_dates.as_of_date) - make_interval(months => month_index))::date
            as month_start
    from {{ snapshot_dates }} as snapshot_dates
    cross join generate_series(0, 11) as month_index

),

months_with_days as (

    select
        *,
        least(as_of_date, (month_start + interval '1 month' - interval '1 day')::date) - month_start + 1
            as days_in_month
    from months

),

sales as (

    select
        months_with_days.as_of_date,
        months_with_days.month_index,
        invoice_lines.customer_id,
        sum(invoice_lines.signed_amount * coalesce(fx_rates.cny_per_unit, 1)) as credit_sales
    from months_with_days
    inner join invoice_lines
        on invoice_lines.invoice_date >= months_with_days.month_start
        and invoice_lines.invoice_date <= months_with_days.as_of_date
        and invoice_lines.invoice_date < months_with_days.month_start + interval '1 month'
        and invoice_lines.known_date <= months_with_days.as_of_date
    left join fx_rates
        on invoice_lines.currency = fx_rates.currency
        and months_with_days.as_of_date >= fx_rates.known_from_date
        and (fx_rates.known_to_date is null or months_with_days.as_of_date < fx_rates.known_to_date)
    group by months_with_days.as_of_date, months_with_days.month_index, invoice_lines.customer_id

),

customers_with_sales as (

    select distinct as_of_date, customer_id from sales

),

final as (

    select
        months_with_days.as_of_date,
        customers_with_sales.customer_id,
        months_with_days.month_index,
        months_with_days.month_start,
        months_with_days.days_in_month,
        coalesce(sales.credit_sales, 0)::numeric(18, 2) as credit_sales
    from months_with_days
    inner join customers_with_sales
        on months_with_days.as_of_date = customers_with_sales.as_of_date
    left join sales
        on months_with_days.as_of_date = sales.as_of_date
        and months_with_days.month_index = sales.month_index
        and customers_with_sales.customer_id = sales.customer_id

)

select * from final
{%- endmacro %}


{#- Receivables, DSO, best-possible DSO, ADD and CEI per customer for the dates in `snapshot_dates`
    (relation or CTE with column as_of_date), from `sales_by_month` (int_customer_sales_by_month's
    rows for those dates): the logic of int_customer_collection_metrics_computed. -#}
{% macro ar_customer_collection_metrics(snapshot_dates, sales_by_month) -%}
with

snapshots as (

    -- the snapshot dates and the month-ends before their DSO periods (opening AR)
    select * from {{ ref('fct_ar_open_items_snapshots') }}
    where as_of_date in (select as_of_date from {{ snapshot_dates }})
        or as_of_date in (
            select (date_trunc('month', as_of_date) - interval '2 months' - interval '1 day')::date
            from {{ snapshot_dates }}
        )

),

sales_by_month as (

    select * from {{ sales_by_month }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}

),

customers as (

    select * from {{ ref('int_customers_versioned') }}

),

dates_with_periods as (

    select
        as_of_date,
        (date_trunc('month', as_of_date) - interval '2 months')::date as period_start_date
    from {{ snapshot_dates }}
    group by as_of_date

),

customer_dates as (

    select
        dates_with_periods.as_of_date,
        dates_with_periods.period_start_date,
        dates_with_periods.as_of_date - dates_with_periods.period_start_date + 1 as period_days,
        customers.customer_id
    from dates_with_periods
    inner join customers
        on customers.known_from_date <= dates_with_periods.as_of_date
        and (customers.known_to_date is null or customers.known_to_date > dates_with_periods.as_of_date)

),

receivables as (

    select
        snapshots.as_of_date,
        snapshots.customer_id,
        sum(snapshots.open_amount * coalesce(fx_rates.cny_per_unit, 1)) as open_receivables,
        coalesce(sum(snapshots.open_amount * coalesce(fx_rates.cny_per_unit, 1))
            filter (where snapshots.days_past_due <= 0), 0) as current_receivables,
        count(*) as open_invoice_count,
        max(greatest(snapshots.days_past_due, 0)) as max_days_past_due
    from snapshots
    left join fx_rates
        on snapshots.currency = fx_rates.currency
        and snapshots.as_of_date >= fx_rates.known_from_date
        and (fx_rates.known_to_date is null or snapshots.as_of_date < fx_rates.known_to_date)
    group by snapshots.as_of_date, snapshots.customer_id

),

sales_cumulated as (

    select
        *,
        sum(credit_sales) over (
            partition by as_of_date, customer_id order by month_index
        ) as cumulative_sales,
        sum(days_in_month) over (
            partition by as_of_date, customer_id order by month_index
        ) as cumulative_days
    from sales_by_month

),

period_sales as (

    select
        as_of_date,
        customer_id,
        sum(credit_sales) filter (where month_index <= 2) as credit_sales,
        sum(days_in_month) as lookback_days
    from sales_by_month
    group by as_of_date, customer_id

),

count_back as (

    -- the month in which period-end AR is exhausted, walking back from the snapshot's month
    select distinct on (sales_cumulated.as_of_date, sales_cumulated.customer_id)
        sales_cumulated.as_of_date,
        sales_cumulated.customer_id,
        (sales_cumulated.cumulative_days - sales_cumulated.days_in_month)
        + (receivables.open_receivables - (sales_cumulated.cumulative_sales - sales_cumulated.credit_sales))
            / sales_cumulated.credit_sales * sales_cumulated.days_in_month as dso_count_back
    from sales_cumulated
    inner join receivables
        on sales_cumulated.as_of_date = receivables.as_of_date
        and sales_cumulated.customer_id = receivables.customer_id
    where sales_cumulated.cumulative_sales >= receivables.open_receivables
        and sales_cumulated.credit_sales > 0
    order by sales_cumulated.as_of_date, sales_cumulated.customer_id, sales_cumulated.month_index

),

combined as (

    select
        customer_dates.as_of_date,
        customer_dates.customer_id,
        customer_dates.period_start_date,
        customer_dates.period_days,
        coalesce(receivables.open_receivables, 0) as open_receivables,
        coalesce(receivables.current_receivables, 0) as current_receivables,
        coalesce(receivables.open_invoice_count, 0) as open_invoice_count,
        coalesce(receivables.max_days_past_due, 0) as max_days_past_due,
        coalesce(opening.open_receivables, 0) as opening_receivables,
        coalesce(period_sales.credit_sales, 0) as credit_sales,
        case
            when coalesce(receivables.open_receivables, 0) = 0 then 0
            -- AR older than the twelve-month lookback: capped at the lookback
            else coalesce(count_back.dso_count_back, period_sales.lookback_days)
        end as dso_count_back
    from customer_dates
    left join receivables
        on customer_dates.as_of_date = receivables.as_of_date
        and customer_dates.customer_id = receivables.customer_id
    left join receivables as opening
        on customer_dates.period_start_date - 1 = opening.as_of_date
        and customer_dates.customer_id = opening.customer_id
    left join period_sales
        on customer_dates.as_of_date = period_sales.as_of_date
        and customer_dates.customer_id = period_sales.customer_id
    left join count_back
        on customer_dates.as_of_date = count_back.as_of_date
        and customer_dates.customer_id = count_back.customer_id

),

final as (

    select
        as_of_date,
        customer_id,
        period_start_date,
        period_days,
        open_receivables::numeric(18, 2) as open_receivables,
        current_receivables::numeric(18, 2) as current_receivables,
        (open_receivables - current_receivables)::numeric(18, 2) as overdue_receivables,
        open_invoice_count,
        max_days_past_due,
        opening_receivables::numeric(18, 2) as opening_receivables,
        credit_sales::numeric(18, 2) as credit_sales,
        round(open_receivables / nullif(credit_sales, 0) * period_days, 2) as dso_simple,
        round(dso_count_back, 2) as dso_count_back,
        round(current_receivables / nullif(credit_sales, 0) * period_days, 2) as best_possible_dso,
        round((open_receivables - current_receivables) / nullif(credit_sales, 0) * period_days, 2)
            as average_days_delinquent,
        round(
            (opening_receivables + credit_sales - open_receivables)
            / nullif(opening_receivables + credit_sales - current_receivables, 0) * 100,
            2
        ) as collection_effectiveness_index
    from combined

)

select * from final
{%- endmacro %}


{#- Payment behaviour per customer for the dates in `snapshot_dates` (relation or CTE with column
    as_of_date): the logic of int_customer_payment_behaviour_computed. -#}
{% macro ar_customer_payment_behaviour(snapshot_dates) -%}
with

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

as_of_dates as (

    select distinct as_of_date, as_of_date as known_on_date from {{ snapshot_dates }}

),

settlements as (

    {{ ar_invoice_settlements('ledger_lines', 'as_of_dates') | indent(4) }}

),

invoice_windows as (

    select
        *,
        -- the last day the invoice was open (the snapshot date while it still is)
        case
            when settled_date is not null then settled_date - 1
            when open_amount > 0 then as_of_date
        end as last_open_date
    from settlements

),

behaviour as (

    select
        as_of_date,
        customer_id,
        count(*) filter (
            where settled_date > (as_of_date - interval '12 months')::date and paid_amount > 0
        ) as paid_invoice_count_12m,
        round(avg(settled_date - due_date) filter (
            where settled_date > (as_of_date - interval '12 months')::date and paid_amount > 0
        ), 2) as average_days_beyond_terms_12m,
        round(
            (count(*) filter (
                where settled_date > (as_of_date - interval '12 months')::date and paid_amount > 0
                    and settled_date > due_date
            ))::numeric
            / nullif(count(*) filter (
                where settled_date > (as_of_date - interval '12 months')::date and paid_amount > 0
            ), 0),
            4
        ) as share_paid_late_12m,
        coalesce(max(last_open_date - due_date) filter (
            where last_open_date > (as_of_date - interval '3 months')::date
        ), 0) as max_days_past_due_3m,
        coalesce(max(last_open_date - due_date) filter (
            where last_open_date > (as_of_date - interval '6 months')::date
        ), 0) as max_days_past_due_6m,
        coalesce(max(last_open_date - due_date) filter (
            where last_open_date > (as_of_date - interval '12 months')::date
        ), 0) as max_days_past_due_12m,
        count(*) filter (where has_write_off) as written_off_invoice_count
    from invoice_windows
    group by as_of_date, customer_id

),

final as (

    select
        as_of_date,
        customer_id,
        paid_invoice_count_12m,
        average_days_beyond_terms_12m,
        share_paid_late_12m,
        greatest(max_days_past_due_3m, 0) as max_days_past_due_3m,
        greatest(max_days_past_due_6m, 0) as max_days_past_due_6m,
        greatest(max_days_past_due_12m, 0) as max_days_past_due_12m,
        written_off_invoice_count
    from behaviour

)

select * from final
{%- endmacro %}


{#- Every credit profile feature per customer for the dates in `snapshot_dates` (relation or CTE with
    column as_of_date), from the collection metrics (computed for those dates and the month-ends three
    months before them, for the trends) and the payment behaviour for those dates: the logic of
    int_customer_credit_profiles_assembled. -#}
{% macro ar_customer_credit_profiles(snapshot_dates, collection_metrics, payment_behaviour) -%}
with

all_collection_metrics as (

    select * from {{ collection_metrics }}

),

collection_metrics as (

    select * from all_collection_metrics
    where as_of_date in (select as_of_date from {{ snapshot_dates }})

),

payment_behaviour as (

    select * from {{ payment_behaviour }}

),

-- the days over the limit in the year before the dates: a breach count reads those alone, not a
-- row per customer and day (1.7 M rows for 90 days of the medium sandbox)
over_limit_days as (

    select customer_id, as_of_date
    from {{ ref('fct_credit_exposure_daily') }}
    where is_over_limit
        and as_of_date > (select min(as_of_date) - 365 from {{ snapshot_dates }})

),

exposure_on_dates as (

    -- an array, not a semi-join: the table's as_of_date index serves it without a nested loop
    select * from {{ ref('fct_credit_exposure_daily') }}
    where as_of_date = any(array(select as_of_date from {{ snapshot_dates }}))

),

bureau_events as (

    select * from {{ ref('int_bureau_events_mapped_to_customers') }}

),

bureau_reports as (

    select * from {{ ref('int_bureau_reports_mapped_to_customers') }}

),

limit_breaches as (

    select
        collection_metrics.as_of_date,
        collection_metrics.customer_id,
        count(*) filter (where over_limit_days.as_of_date > collection_metrics.as_of_date - 90)
            as limit_breach_days_90d,
        count(*) as limit_breach_days_365d
    from collection_metrics
    inner join over_limit_days
        on collection_metrics.customer_id = over_limit_days.customer_id
        and over_limit_days.as_of_date > collection_metrics.as_of_date - 365
        and over_limit_days.as_of_date <= collection_metrics.as_of_date
    group by collection_metrics.as_of_date, collection_metrics.customer_id

),

exposure_on_date as (

    select
        collection_metrics.as_of_date,
        collection_metrics.customer_id,
        exposure_on_dates.credit_limit,
        exposure_on_dates.currency as credit_limit_currency,
        exposure_on_dates.utilisation
    from collection_metrics
    inner join exposure_on_dates
        on collection_metrics.customer_id = exposure_on_dates.customer_id
        and collection_metrics.as_of_date = exposure_on_dates.as_of_date

),

bureau_event_counts as (

    select
        collection_metrics.as_of_date,
        collection_metrics.customer_id,
        count(*) filter (where bureau_events.event_date > collection_metrics.as_of_date - 90)
            as bureau_event_count_90d,
        count(*) filter (where bureau_events.event_date > collection_metrics.as_of_date - 365)
            as bureau_event_count_365d,
        bool_or(bureau_events.is_default_event) as has_default_bureau_event
    from collection_metrics
    inner join bureau_events
        on collection_metrics.customer_id = bureau_events.customer_id
        and bureau_events.event_date <= collection_metrics.as_of_date
        and bureau_events.known_date <= collection_metrics.as_of_date
    group by collection_metrics.as_of_date, collection_metrics.customer_id

),

bureau_score_on_date as (

    select distinct on (collection_metrics.as_of_date, collection_metrics.customer_id)
        collection_metrics.as_of_date,
        collection_metrics.customer_id,
        bureau_reports.bureau_score,
        bureau_reports.registration_status_code,
        bureau_reports.report_date
    from collection_metrics
    inner join bureau_reports
        on collection_metrics.customer_id = bureau_reports.customer_id
        and bureau_reports.report_date <= collection_metrics.as_of_date
        and bureau_reports.known_date <= collection_metrics.as_of_date
    order by collection_metrics.as_of_date, collection_metrics.customer_id, bureau_reports.report_date desc

),

bureau_score_90d_before as (

    select distinct on (collection_metrics.as_of_date, collection_metrics.customer_id)
        collection_metrics.as_of_date,
        collection_metrics.customer_id,
        bureau_reports.bureau_score
    from collection_metrics
    inner join bureau_reports
        on collection_metrics.customer_id = bureau_reports.customer_id
        and bureau_reports.report_date <= collection_metrics.as_of_date - 90
        and bureau_reports.known_date <= collection_metrics.as_of_date
    order by collection_metrics.as_of_date, collection_metrics.customer_id, bureau_reports.report_date desc

),

final as (

    select
        collection_metrics.as_of_date,
        collection_metrics.as_of_date
            = (date_trunc('month', collection_metrics.as_of_date) + interval '1 month' - interval '1 day')::date
            as is_month_end,
        collection_metrics.customer_id,
        'CNY' as currency,
        collection_metrics.open_receivables,
        collection_metrics.current_receivables,
        collection_metrics.overdue_receivables,
        collection_metrics.open_invoice_count,
        collection_metrics.max_days_past_due,
        collection_metrics.period_start_date,
        collection_metrics.period_days,
        collection_metrics.opening_receivables,
        collection_metrics.credit_sales,
        collection_metrics.dso_simple,
        collection_metrics.dso_count_back,
        collection_metrics.best_possible_dso,
        collection_metrics.average_days_delinquent,
        collection_metrics.collection_effectiveness_index,
        coalesce(payment_behaviour.paid_invoice_count_12m, 0) as paid_invoice_count_12m,
        payment_behaviour.average_days_beyond_terms_12m,
        payment_behaviour.share_paid_late_12m,
        coalesce(payment_behaviour.max_days_past_due_3m, 0) as max_days_past_due_3m,
        coalesce(payment_behaviour.max_days_past_due_6m, 0) as max_days_past_due_6m,
        coalesce(payment_behaviour.max_days_past_due_12m, 0) as max_days_past_due_12m,
        exposure_on_date.credit_limit,
        exposure_on_date.credit_limit_currency,
        exposure_on_date.utilisation,
        coalesce(limit_breaches.limit_breach_days_90d, 0) as limit_breach_days_90d,
        coalesce(limit_breaches.limit_breach_days_365d, 0) as limit_breach_days_365d,
        coalesce(bureau_event_counts.bureau_event_count_90d, 0) as bureau_event_count_90d,
        coalesce(bureau_event_counts.bureau_event_count_365d, 0) as bureau_event_count_365d,
        bureau_score_on_date.bureau_score,
        bureau_score_on_date.report_date as bureau_report_date,
        bureau_score_on_date.registration_status_code,
        bureau_score_on_date.bureau_score - bureau_score_90d_before.bureau_score as bureau_score_change_90d,
        (collection_metrics.open_receivables - three_months_before.open_receivables)::numeric(18, 2)
            as open_receivables_change_3m,
        collection_metrics.dso_simple - three_months_before.dso_simple as dso_simple_change_3m,
        coalesce(payment_behaviour.written_off_invoice_count, 0) > 0 as has_write_off,
        coalesce(bureau_event_counts.has_default_bureau_event, false) as has_default_bureau_event,
        collection_metrics.max_days_past_due >= 90
            or coalesce(payment_behaviour.written_off_invoice_count, 0) > 0
            or coalesce(bureau_event_counts.has_default_bureau_event, false)
            or coalesce(bureau_score_on_date.registration_status_code in ('deregistered', 'revoked'), false)
            as is_in_default
    from collection_metrics
    left join payment_behaviour
        on collection_metrics.as_of_date = payment_behaviour.as_of_date
        and collection_metrics.customer_id = payment_behaviour.customer_id
    left join exposure_on_date
        on collection_metrics.as_of_date = exposure_on_date.as_of_date
        and collection_metrics.customer_id = exposure_on_date.customer_id
    left join limit_breaches
        on collection_metrics.as_of_date = limit_breaches.as_of_date
        and collection_metrics.customer_id = limit_breaches.customer_id
    left join bureau_event_counts
        on collection_metrics.as_of_date = bureau_event_counts.as_of_date
        and collection_metrics.customer_id = bureau_event_counts.customer_id
    left join bureau_score_on_date
        on collection_metrics.as_of_date = bureau_score_on_date.as_of_date
        and collection_metrics.customer_id = bureau_score_on_date.customer_id
    left join bureau_score_90d_before
        on collection_metrics.as_of_date = bureau_score_90d_before.as_of_date
        and collection_metrics.customer_id = bureau_score_90d_before.customer_id
    left join all_collection_metrics as three_months_before
        on (date_trunc('month', collection_metrics.as_of_date) - interval '2 months' - interval '1 day')::date
            = three_months_before.as_of_date
        and collection_metrics.customer_id = three_months_before.customer_id

)

select * from final
{%- endmacro %}


{#- The credit profiles for the dates in `profile_dates` (relation or CTE with column as_of_date),
    computing the collection metrics only for those dates and the month-end snapshots three months
    before them (trends): what the profile marts run each night instead of the all-dates views. -#}
{% macro ar_customer_credit_profiles_for(profile_dates) -%}
    with

    profile_metric_dates as (

        select as_of_date from {{ profile_dates }}

        union

        select snapshot_dates.as_of_date
        from (select distinct as_of_date from {{ ref('fct_ar_open_items_snapshots') }}) as snapshot_dates
        inner join {{ profile_dates }} as wanted
            on snapshot_dates.as_of_date
                = (date_trunc('month', wanted.as_of_date) - interval '2 months' - interval '1 day')::date

    ),

    profile_sales_by_month as (

        {{ ar_customer_sales_by_month('profile_metric_dates') | indent(8) }}

    ),

    profile_collection_metrics as (

        {{ ar_customer_collection_metrics('profile_metric_dates', 'profile_sales_by_month') | indent(8) }}

    ),

    profile_payment_behaviour as (

        {{ ar_customer_payment_behaviour(profile_dates) | indent(8) }}

    ),

    profiles as (

        {{ ar_customer_credit_profiles(profile_dates, 'profile_collection_metrics', 'profile_payment_behaviour')
            | indent(8) }}

    )

    select * from profiles
{%- endmacro %}
