-- Reconciliation (error): for every month-end of the ERP's open-items report, the warehouse's open
-- AR per currency equals the ERP's total within 0.01 and the open invoice counts match, leaving
-- out invoices explained by ingestion (quarantined lines, payments whose invoice column was lost to
-- schema drift), which assert_ar_reconciliation_quarantine_explained lists as a warning.
-- Month-ends younger than the grace period (var reconciliation_grace_days, default 10: files arrive
-- up to six days late, re-deliveries three more) are checked by that warning test instead. Returns one row per customer and
-- currency that differs, with the currency's totals, so a failure names the customers (a currency
-- total can only differ if some customer's does; customers' differences that offset fail too).
{{ config(severity='error') }}

with

reconciled as (

    select * from {{ ref('int_ar_open_items_reconciled_to_erp') }}
    where not is_explained
        and as_of_date <= {{ as_of_date() }} - {{ var('reconciliation_grace_days', 10) }}

),

per_customer as (

    select
        as_of_date,
        currency,
        customer_id,
        sum(coalesce(erp_open_amount, 0)) as erp_open_amount,
        sum(coalesce(warehouse_open_amount, 0)) as warehouse_open_amount,
        count(*) filter (where is_in_erp) as erp_invoice_count,
        count(*) filter (where is_in_warehouse) as warehouse_invoice_count,
        string_agg(invoice_id, ', ' order by invoice_id) filter (where is_different) as differing_invoice_ids
    from reconciled
    group by as_of_date, currency, customer_id

),

per_currency as (

    select
        *,
        sum(erp_open_amount) over (partition by as_of_date, currency) as erp_currency_total,
        sum(warehouse_open_amount) over (partition by as_of_date, currency) as warehouse_currency_total,
        sum(erp_invoice_count) over (partition by as_of_date, currency) as erp_currency_invoice_count,
        sum(warehouse_invoice_count) over (partition by as_of_date, currency) as warehouse_currency_invoice_count
    from per_customer

)

select *
from per_currency
where abs(erp_open_amount - warehouse_open_amount) > 0.01
    or erp_invoice_count <> warehouse_invoice_count
order by as_of_date, currency, customer_id
