-- grain: one row per snapshot date and customer with invoices known on it: payment behaviour
-- over trailing windows, point in time (documents dated and loaded on or before the snapshot date)
--
-- Days beyond terms of a paid invoice = settled date - due date (doc `days_beyond_terms`), over
-- invoices settled in the twelve months up to the snapshot with at least one payment. Max DPD
-- over n months: the highest days past due any invoice reached on a day of the window.
-- The logic is the macro ar_customer_payment_behaviour (macros/ar_customer_profiles.sql): this view runs it
-- for every snapshot date, for analysts and unit tests; the profile marts run it for the dates they build.
with

snapshot_dates as (

    select distinct as_of_date from {{ ref('fct_ar_open_items_snapshots') }}

),

final as (

    {{ ar_customer_payment_behaviour('snapshot_dates') | indent(4) }}

)

select * from final
