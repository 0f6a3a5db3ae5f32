-- grain: one row per customer known on the as-of date: the latest credit profile (the logic of
-- customer_credit_profile_history, macro ar_customer_credit_profiles_for, for the as-of date)
--
-- Planned without nested loops (macro ar_without_nested_loops_hooks): see there why.
{{ config(pre_hook=ar_without_nested_loops_hooks()[0], post_hook=ar_without_nested_loops_hooks()[1]) }}
with

snapshots as (

    select * from {{ ref('fct_ar_open_items_snapshots') }}

),

profile_dates as (

    select distinct as_of_date
    from snapshots
    where as_of_date = {{ as_of_date() }}

),

profiles as (

    {{ ar_customer_credit_profiles_for('profile_dates') | indent(4) }}

),

final as (

    select * from profiles

)

select * from final
