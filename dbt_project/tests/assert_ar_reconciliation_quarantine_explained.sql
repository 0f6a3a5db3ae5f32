-- Reconciliation (warning): differences with the ERP's open-items report that the error test leaves
-- out: invoices whose documents ingestion quarantined, or whose customer's payments lost their
-- invoice column to schema drift (the warehouse legitimately lacks the documents; a data steward
-- fixes the source and re-delivers), and month-ends still in the grace period for late files.
-- One row per invoice, with the feeds whose quarantined lines cite it.
{{ config(severity='warn') }}

select
    as_of_date,
    currency,
    customer_id,
    invoice_id,
    erp_open_amount,
    warehouse_open_amount,
    is_explained_by_quarantine,
    quarantined_in_feeds,
    is_explained_by_schema_drift
from {{ ref('int_ar_open_items_reconciled_to_erp') }}
where is_different
    and (
        is_explained
        or as_of_date > {{ as_of_date() }} - {{ var('reconciliation_grace_days', 10) }}
    )
order by as_of_date, currency, customer_id, invoice_id
