-- grain: one row per snapshot date and invoice open on it, as known on that date
--
-- Snapshot dates: every month-end from the first load on, and the as-of date of the latest run.
-- Each snapshot is what the nightly run of that date could see (known_on_date = as_of_date), so
-- it never changes afterwards: an incremental run only adds the month-ends it has not built and
-- its own as-of date (plus those a corrected re-delivery restated, macro ar_rebuild_from_date),
-- and drops the previous run's non-month-end date. Any other date, or another
-- knowledge date, comes from the function marts.ar_open_items_as_of() with the same logic.
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'invoice_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date', 'customer_id']}],
        post_hook=[
            "delete from {{ this }} where not is_month_end and as_of_date <> {{ as_of_date() }}",
        ],
    )
}}

-- depends_on: {{ ref('int_load_batches_dated') }}
with

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

snapshot_dates as (

    select distinct
        snapshot_date,
        snapshot_date as known_on_date
    from (
        select (month_start + interval '1 month' - interval '1 day')::date as snapshot_date
        from generate_series(
            date_trunc('month', (select coalesce(min(known_date), {{ as_of_date() }}) from ledger_lines)),
            date_trunc('month', {{ as_of_date() }}),
            interval '1 month'
        ) as month_start

        union all

        select {{ as_of_date() }}
    ) as candidates
    where snapshot_date <= {{ as_of_date() }}
    {% if is_incremental() -%}
        and snapshot_date >= {{ ar_rebuild_from_date_literal('as_of_date') }}
    {%- endif %}

),

as_of_dates as (

    select snapshot_date as as_of_date, known_on_date from snapshot_dates

),

open_items as (

    {{ ar_open_items('ledger_lines', 'as_of_dates') | indent(4) }}

),

final as (

    select
        as_of_date,
        as_of_date = (date_trunc('month', as_of_date) + interval '1 month' - interval '1 day')::date
            as is_month_end,
        invoice_id,
        customer_id,
        currency,
        invoice_date,
        due_date,
        invoice_amount,
        open_amount,
        days_past_due,
        aging_bucket,
        aging_bucket_order,
        known_on_date,
        known_at
    from open_items

)

select * from final
