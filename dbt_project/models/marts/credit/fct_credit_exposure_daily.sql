-- grain: one row per customer and as-of (business) date
--
-- Exposure = open receivables + open orders not yet invoiced - unapplied cash (docs/domain.md), in
-- the currency of the customer's credit limit, as the nightly run of each date saw it: documents
-- dated on or before the date and loaded by then (doc `known_date`); later payments, credit notes
-- and write-offs never reduce it, late-loaded documents count from the day they were loaded.
--
-- Incremental by as_of_date with delete+insert. A full refresh builds every date from the first
-- load up to the as-of date; an incremental run builds the dates after the last one built up to
-- the as-of date (normally just that date; a re-run replaces exactly its date), and the dates a
-- corrected re-delivery restated (macro ar_rebuild_from_date). Because every row is "as known on
-- its date", both give the same rows (tests/test_marts.py).
--
-- The balance components' changes before the first date built are summed into one opening row
-- per customer and currency (hash aggregate) instead of running windows over the whole history:
-- a nightly run sorts one day of changes, not every change since the first load.
{%- set exposure_amounts = ['open_receivables', 'overdue_amount', 'open_orders', 'unapplied_cash'] -%}
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'customer_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date']}],
    )
}}

{#- The first date built: a literal on incremental runs (the planner then knows the dates). -#}
{%- if is_incremental() -%}
    {%- set first_date = ar_rebuild_from_date_literal('as_of_date') -%}
{%- else -%}
    {%- set first_date = "(select coalesce(min(known_date), " ~ as_of_date() ~ ") from " ~ ref('int_load_batches_dated') ~ ")" -%}
{%- endif %}
with

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

customers as (

    select * from {{ ref('int_customers_versioned') }}

),

limits as (

    select * from {{ ref('int_credit_limits_versioned') }}

),

exposure_changes as (

    select * from {{ ref('int_customer_exposure_changes_unioned') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_known') }}

),

dates as (

    select as_of_date::date as as_of_date
    from generate_series({{ first_date }}, {{ as_of_date() }}, interval '1 day') as as_of_date

),

fx_on_date as (

    select
        dates.as_of_date,
        fx_rates.currency,
        fx_rates.cny_per_unit
    from dates
    inner join fx_rates
        on fx_rates.known_from_date <= dates.as_of_date
        and (fx_rates.known_to_date is null or fx_rates.known_to_date > dates.as_of_date)

),

customer_on_date as (

    select
        dates.as_of_date,
        customers.customer_id,
        customers.customer_name,
        customers.credit_limit as master_credit_limit,
        customers.credit_limit_currency as master_credit_limit_currency
    from dates
    inner join customers
        on customers.known_from_date <= dates.as_of_date
        and (customers.known_to_date is null or customers.known_to_date > dates.as_of_date)

),

limit_on_date as (

    select
        dates.as_of_date,
        limits.customer_id,
        limits.credit_limit,
        limits.credit_limit_currency
    from dates
    inner join limits
        on limits.in_force_from <= dates.as_of_date
        and (limits.in_force_to is null or limits.in_force_to > dates.as_of_date)

),

customer_limits as (

    select
        customer_on_date.as_of_date,
        customer_on_date.customer_id,
        customer_on_date.customer_name,
        coalesce(limit_on_date.credit_limit, customer_on_date.master_credit_limit) as credit_limit,
        coalesce(limit_on_date.credit_limit_currency, customer_on_date.master_credit_limit_currency)
            as currency
    from customer_on_date
    left join limit_on_date
        on customer_on_date.as_of_date = limit_on_date.as_of_date
        and customer_on_date.customer_id = limit_on_date.customer_id

),

changes_in_window as (

    -- every change before the first date built, summed into an opening balance on that date
    select
        exposure_changes.customer_id,
        exposure_changes.currency,
        greatest(exposure_changes.change_date, {{ first_date }}) as change_date,
        {%- for amount in exposure_amounts %}
        sum(exposure_changes.{{ amount }}_change) as {{ amount }}_change,
        {%- endfor %}
        sum(exposure_changes.open_invoice_count_change) as open_invoice_count_change
    from exposure_changes
    where exposure_changes.change_date <= {{ as_of_date() }}
    group by
        exposure_changes.customer_id,
        exposure_changes.currency,
        greatest(exposure_changes.change_date, {{ first_date }})

),

running_balances as (

    select
        customer_id,
        currency,
        change_date as valid_from,
        lead(change_date) over by_day as valid_to,
        {%- for amount in exposure_amounts %}
        sum({{ amount }}_change) over by_day as {{ amount }},
        {%- endfor %}
        sum(open_invoice_count_change) over by_day as open_invoice_count
    from changes_in_window
    window by_day as (partition by customer_id, currency order by change_date)

),

balances_on_date as (

    select
        dates.as_of_date,
        running_balances.*
    from dates
    inner join running_balances
        on running_balances.valid_from <= dates.as_of_date
        and (running_balances.valid_to is null or running_balances.valid_to > dates.as_of_date)

),

balances_with_fx as (

    -- amounts in another currency than the limit's go through CNY at the latest rate known
    select
        balances_on_date.*,
        {{ fx_factor('balances_on_date.currency', 'customer_limits.currency') }} as fx_factor
    from balances_on_date
    inner join customer_limits
        on balances_on_date.as_of_date = customer_limits.as_of_date
        and balances_on_date.customer_id = customer_limits.customer_id
    left join fx_on_date as from_fx
        on balances_on_date.as_of_date = from_fx.as_of_date
        and balances_on_date.currency = from_fx.currency
    left join fx_on_date as to_fx
        on customer_limits.as_of_date = to_fx.as_of_date
        and customer_limits.currency = to_fx.currency

),

converted as (

    select
        as_of_date,
        customer_id,
        {{ fx_converted_sums(exposure_amounts, 'fx_factor') }},
        sum(open_invoice_count) as open_invoice_count
    from balances_with_fx
    group by as_of_date, customer_id

),

amounts as (

    select
        customer_limits.as_of_date,
        customer_limits.customer_id,
        customer_limits.customer_name,
        customer_limits.currency,
        round(coalesce(converted.open_receivables, 0), 2)::numeric(18, 2) as open_receivables,
        coalesce(converted.open_invoice_count, 0)::integer as open_invoice_count,
        round(coalesce(converted.overdue_amount, 0), 2)::numeric(18, 2) as overdue_amount,
        round(coalesce(converted.open_orders, 0), 2)::numeric(18, 2) as open_orders,
        round(coalesce(converted.unapplied_cash, 0), 2)::numeric(18, 2) as unapplied_cash,
        round(
            coalesce(converted.open_receivables, 0) + coalesce(converted.open_orders, 0)
            - coalesce(converted.unapplied_cash, 0), 2
        )::numeric(18, 2) as exposure,
        customer_limits.credit_limit
    from customer_limits
    left join converted
        on customer_limits.as_of_date = converted.as_of_date
        and customer_limits.customer_id = converted.customer_id

),
final as (

    select
        *,
        round(exposure / nullif(credit_limit, 0), 4) as utilisation,
        (credit_limit - exposure)::numeric(18, 2) as headroom,
        exposure > credit_limit as is_over_limit
    from amounts

)

select * from final
