-- grain: one row per snapshot date (month-ends and the latest as-of date): the whole portfolio's
-- DSO (simple and count-back), best-possible DSO, ADD and CEI over the DSO period (doc `dso`)
--
-- Sums of the customers' receivables and credit sales in CNY, then the ratios: a portfolio figure
-- is not an average of customer figures. Incremental like fct_ar_open_items_snapshots: a run adds
-- its snapshot dates (macro ar_rebuild_from_date) and drops the previous run's non-month-end date.
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=[
            "delete from {{ this }} where not is_month_end and as_of_date <> {{ as_of_date() }}",
        ],
    )
}}

-- depends_on: {{ ref('int_load_batches_dated') }}
with

snapshots as (

    select * from {{ ref('fct_ar_open_items_snapshots') }}

),

trend_dates as (

    select distinct as_of_date
    from snapshots
    {% if is_incremental() -%}
    where as_of_date >= {{ ar_rebuild_from_date_literal('as_of_date') }}
    {%- endif %}

),

trend_sales_by_month as (

    {{ ar_customer_sales_by_month('trend_dates') | indent(4) }}

),

collection_metrics as (

    {{ ar_customer_collection_metrics('trend_dates', 'trend_sales_by_month') | indent(4) }}

),

portfolio as (

    select
        as_of_date,
        max(period_start_date) as period_start_date,
        max(period_days) as period_days,
        sum(open_receivables) as open_receivables,
        sum(current_receivables) as current_receivables,
        sum(opening_receivables) as opening_receivables,
        sum(credit_sales) as credit_sales,
        count(*) filter (where open_receivables > 0) as customers_with_receivables
    from collection_metrics
    group by as_of_date

),

portfolio_months as (

    select
        as_of_date,
        month_index,
        max(days_in_month) as days_in_month,
        sum(credit_sales) as credit_sales
    from trend_sales_by_month
    group by as_of_date, month_index

),

months_cumulated as (

    select
        *,
        sum(credit_sales) over (partition by as_of_date order by month_index) as cumulative_sales,
        sum(days_in_month) over (partition by as_of_date order by month_index) as cumulative_days,
        sum(days_in_month) over (partition by as_of_date) as lookback_days
    from portfolio_months

),

count_back as (

    select distinct on (months_cumulated.as_of_date)
        months_cumulated.as_of_date,
        (months_cumulated.cumulative_days - months_cumulated.days_in_month)
        + (portfolio.open_receivables - (months_cumulated.cumulative_sales - months_cumulated.credit_sales))
            / months_cumulated.credit_sales * months_cumulated.days_in_month as dso_count_back
    from months_cumulated
    inner join portfolio
        on months_cumulated.as_of_date = portfolio.as_of_date
    where months_cumulated.cumulative_sales >= portfolio.open_receivables
        and months_cumulated.credit_sales > 0
    order by months_cumulated.as_of_date, months_cumulated.month_index

),

lookback as (

    select distinct as_of_date, lookback_days from months_cumulated

),

final as (

    select
        portfolio.as_of_date,
        portfolio.as_of_date
            = (date_trunc('month', portfolio.as_of_date) + interval '1 month' - interval '1 day')::date
            as is_month_end,
        portfolio.period_start_date,
        portfolio.period_days,
        'CNY' as currency,
        portfolio.open_receivables::numeric(18, 2) as open_receivables,
        portfolio.current_receivables::numeric(18, 2) as current_receivables,
        portfolio.opening_receivables::numeric(18, 2) as opening_receivables,
        portfolio.credit_sales::numeric(18, 2) as credit_sales,
        portfolio.customers_with_receivables,
        round(portfolio.open_receivables / nullif(portfolio.credit_sales, 0) * portfolio.period_days, 2)
            as dso_simple,
        round(
            case
                when portfolio.open_receivables = 0 then 0
                else coalesce(count_back.dso_count_back, lookback.lookback_days)
            end,
            2
        ) as dso_count_back,
        round(portfolio.current_receivables / nullif(portfolio.credit_sales, 0) * portfolio.period_days, 2)
            as best_possible_dso,
        round(
            (portfolio.open_receivables - portfolio.current_receivables)
            / nullif(portfolio.credit_sales, 0) * portfolio.period_days,
            2
        ) as average_days_delinquent,
        round(
            (portfolio.opening_receivables + portfolio.credit_sales - portfolio.open_receivables)
            / nullif(
                portfolio.opening_receivables + portfolio.credit_sales - portfolio.current_receivables, 0
            ) * 100,
            2
        ) as collection_effectiveness_index
    from portfolio
    left join count_back
        on portfolio.as_of_date = count_back.as_of_date
    left join lookback
        on portfolio.as_of_date = lookback.as_of_date

)

select * from final
