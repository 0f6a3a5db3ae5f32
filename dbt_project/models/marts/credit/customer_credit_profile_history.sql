-- grain: one row per month-end and customer known on it: the credit profile as the nightly run of
-- that month-end saw it (point in time: nothing dated or loaded after the month-end)
--
-- Incremental: a run adds the month-ends it has not built yet (and rebuilds those a corrected
-- re-delivery restated); rows are as known on their month-end, so incremental runs and a full
-- refresh give the same table. The profile logic (macro ar_customer_credit_profiles_for) runs for
-- those month-ends only. Feeds the PD model's training set.
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'customer_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=ar_without_nested_loops_hooks()[0],
        post_hook=ar_without_nested_loops_hooks()[1],
    )
}}

-- depends_on: {{ ref('int_load_batches_dated') }}
{#- Most nights build no month-end: then skip the profile logic altogether. -#}
{%- set has_month_ends_to_build = true -%}
{%- if is_incremental() and execute -%}
    {%- set month_ends = run_query(
        "select count(*) from " ~ ref('fct_ar_open_items_snapshots')
        ~ " where is_month_end and as_of_date >= " ~ ar_rebuild_from_date_literal('as_of_date')) -%}
    {%- set has_month_ends_to_build = month_ends.columns[0].values()[0] > 0 -%}
{%- endif %}
{% if not has_month_ends_to_build -%}
select * from {{ this }} where false
{%- else -%}
with

snapshots as (

    select * from {{ ref('fct_ar_open_items_snapshots') }}

),

profile_dates as (

    select distinct as_of_date
    from snapshots
    where is_month_end
    {% if is_incremental() -%}
        and as_of_date >= {{ ar_rebuild_from_date_literal('as_of_date') }}
    {%- endif %}

),

profiles as (

    {{ ar_customer_credit_profiles_for('profile_dates') | indent(4) }}

),

final as (

    select * from profiles

)

select * from final
{%- endif %}
