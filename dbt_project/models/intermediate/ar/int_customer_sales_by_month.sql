-- grain: one row per snapshot date, customer and calendar month among the twelve ending with the
-- snapshot's month, with the customer's credit sales that month as known on the snapshot date
--
-- Credit sales = amounts of invoices dated in the month (and on or before the snapshot date),
-- gross of later credit notes, in CNY at the latest rate known on the snapshot date (doc `dso`).
-- Months without sales are rows too (zero): the count-back DSO walks through them.
-- The logic is the macro ar_customer_sales_by_month (macros/ar_customer_profiles.sql): this view runs it
-- for every snapshot date, for analysts and unit tests; the profile marts run it for the dates they build.
with

snapshot_dates as (

    select distinct as_of_date from {{ ref('fct_ar_open_items_snapshots') }}

),

final as (

    {{ ar_customer_sales_by_month('snapshot_dates') | indent(4) }}

)

select * from final
