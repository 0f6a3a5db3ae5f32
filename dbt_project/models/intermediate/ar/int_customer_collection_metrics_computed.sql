-- grain: one row per snapshot date and customer known on it: receivables and the collection
-- metrics of docs/domain.md over the DSO period (doc `dso`), in CNY
--
-- DSO period: the snapshot's calendar month to date and the two months before (a rolling
-- quarter). Opening AR for CEI: the month-end snapshot just before the period (zero before the
-- first load). AR is as known on each snapshot date; sales as known on the snapshot date.
-- The logic is the macro ar_customer_collection_metrics (macros/ar_customer_profiles.sql): this view runs it
-- for every snapshot date, for analysts and unit tests; the profile marts run it for the dates they build.
with

snapshot_dates as (

    select distinct as_of_date from {{ ref('fct_ar_open_items_snapshots') }}

),

final as (

    {{ ar_customer_collection_metrics('snapshot_dates', ref('int_customer_sales_by_month')) | indent(4) }}

)

select * from final
