-- grain: one row per month-end of the ERP's open-items report and invoice open on either side
--
-- The ERP's report (stg_erp__open_items) against the warehouse's open items for the same date
-- with everything loaded so far (ar_open_items, known_on_date null): the report is the ERP's
-- complete view of that day, so late-loaded documents must count. A difference is explained by
-- quarantine when the invoice number appears in a line ingestion rejected from an AR feed
-- (invoices, payments, credit notes, write-offs, or the open-items report itself): the warehouse
-- then legitimately lacks a document the ERP has (doc `ar_reconciliation`). So is a difference on
-- an invoice of a customer with payments loaded from a file whose header lacked invoice_id (schema
-- drift: a renamed column loads as null, the ERP's application is lost and the warehouse's item
-- stays open).
with

erp_open_items as (

    select * from {{ ref('stg_erp__open_items') }}
    where as_of_date <= {{ as_of_date() }}

),

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

quarantined_rows as (

    select * from {{ ref('stg_ingestion__quarantined_rows') }}
    where feed in ('erp_invoices', 'erp_payments', 'erp_credit_notes', 'erp_write_offs', 'erp_open_items')

),

drifted_payments as (

    -- payments whose application to invoices was lost to schema drift
    select
        payments.customer_id,
        min(payments.payment_date) as first_payment_date
    from {{ ref('stg_erp__payments') }} as payments
    inner join {{ ref('stg_ingestion__load_batches') }} as load_batches
        on payments.batch_id = load_batches.batch_id
    where payments.invoice_id is null
        and 'invoice_id' = any(load_batches.missing_columns)
    group by payments.customer_id

),

as_of_dates as (

    select distinct
        as_of_date,
        null::date as known_on_date
    from erp_open_items

),

warehouse_open_items as (

    {{ ar_open_items('ledger_lines', 'as_of_dates') | indent(4) }}

),

quarantined_invoice_ids as (

    -- the fields of each rejected line; an invoice number is one of them
    select distinct
        trim(both ' "' from field_value) as invoice_id,
        quarantined_rows.feed
    from quarantined_rows
    cross join lateral regexp_split_to_table(quarantined_rows.original_text, '[,;\t|]') as field_value
    where quarantined_rows.original_text is not null

),

compared as (

    select
        coalesce(erp_open_items.as_of_date, warehouse_open_items.as_of_date) as as_of_date,
        coalesce(erp_open_items.invoice_id, warehouse_open_items.invoice_id) as invoice_id,
        coalesce(erp_open_items.customer_id, warehouse_open_items.customer_id) as customer_id,
        coalesce(erp_open_items.currency::text, warehouse_open_items.currency) as currency,
        erp_open_items.open_amount as erp_open_amount,
        warehouse_open_items.open_amount as warehouse_open_amount,
        erp_open_items.invoice_id is not null as is_in_erp,
        warehouse_open_items.invoice_id is not null as is_in_warehouse
    from erp_open_items
    full outer join warehouse_open_items
        on erp_open_items.as_of_date = warehouse_open_items.as_of_date
        and erp_open_items.invoice_id = warehouse_open_items.invoice_id

),

quarantine_citations as (

    select
        invoice_id,
        string_agg(distinct feed, ', ' order by feed) as quarantined_in_feeds
    from quarantined_invoice_ids
    group by invoice_id

),

explained as (

    select
        compared.*,
        abs(coalesce(compared.erp_open_amount, 0) - coalesce(compared.warehouse_open_amount, 0)) > 0.005
            or compared.is_in_erp <> compared.is_in_warehouse as is_different,
        quarantine_citations.quarantined_in_feeds,
        coalesce(
            coalesce(compared.warehouse_open_amount, 0) > coalesce(compared.erp_open_amount, 0)
            and drifted_payments.first_payment_date <= compared.as_of_date,
            false
        ) as is_explained_by_schema_drift
    from compared
    left join quarantine_citations
        on compared.invoice_id = quarantine_citations.invoice_id
    left join drifted_payments
        on compared.customer_id = drifted_payments.customer_id

),

final as (

    select
        *,
        quarantined_in_feeds is not null as is_explained_by_quarantine,
        quarantined_in_feeds is not null or is_explained_by_schema_drift as is_explained
    from explained

)

select * from final
