-- grain: one row per snapshot date (month-ends and the latest as-of date) and customer known on it
--
-- Everything point in time: only documents dated on or before the snapshot date and loaded by its
-- nightly run (doc `known_date`). Amounts in CNY. Trends compare with the month-end snapshot three
-- months earlier (`_change_3m`) or with the bureau score known 90 days earlier.
-- The logic is the macro ar_customer_credit_profiles (macros/ar_customer_profiles.sql): this view runs it
-- for every snapshot date, for analysts and unit tests; the profile marts run it for the dates they build.
with

snapshot_dates as (

    select distinct as_of_date from {{ ref('fct_ar_open_items_snapshots') }}

),

final as (

    {{ ar_customer_credit_profiles(
        'snapshot_dates',
        ref('int_customer_collection_metrics_computed'),
        ref('int_customer_payment_behaviour_computed'),
    ) | indent(4) }}

)

select * from final
