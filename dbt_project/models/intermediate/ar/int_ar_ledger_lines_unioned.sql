-- grain: one row per AR ledger line: an invoice, a credit note, a payment application line
-- (document_id = stg_erp__payments.payment_line_id) or a write-off, each signed (+ invoice,
-- - reductions) and tied to the invoice it affects
--
-- Bitemporal: `document_date` is when it happened in the business, `known_at` / `known_date` when
-- the warehouse first loaded it (doc `known_date`). Reductions whose invoice the warehouse does not
-- know (e.g. its line was quarantined) are left out: there is no item to reduce. The payment's
-- unapplied remainder (invoice_id null) is not an AR line but unapplied cash.
-- A table, not a view: the open-items function, the snapshots and the profiles all scan it.
{{ config(materialized='table', indexes=[{'columns': ['invoice_id']}, {'columns': ['customer_id']}]) }}

with

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

credit_notes as (

    select * from {{ ref('stg_erp__credit_notes') }}

),

payments as (

    select * from {{ ref('stg_erp__payments') }}
    where invoice_id is not null

),

write_offs as (

    select * from {{ ref('stg_erp__write_offs') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

documents as (

    select
        'invoice' as document_type,
        invoice_id as document_id,
        invoice_id,
        invoice_date as document_date,
        invoice_amount as signed_amount,
        first_batch_id,
        first_loaded_at
    from invoices

    union all

    select
        'credit_note',
        credit_note_id,
        invoice_id,
        credit_note_date,
        -credit_note_amount,
        first_batch_id,
        first_loaded_at
    from credit_notes

    union all

    select
        'payment',
        payment_line_id,
        invoice_id,
        payment_date,
        -applied_amount,
        first_batch_id,
        first_loaded_at
    from payments

    union all

    select
        'write_off',
        write_off_id,
        invoice_id,
        write_off_date,
        -write_off_amount,
        first_batch_id,
        first_loaded_at
    from write_offs

),

final as (

    select
        documents.document_type || ':' || documents.document_id as ledger_line_id,
        documents.document_type,
        documents.document_id,
        documents.invoice_id,
        invoices.customer_id,
        invoices.currency::text as currency,
        documents.document_date,
        invoices.invoice_date,
        invoices.due_date,
        documents.signed_amount::numeric(18, 2) as signed_amount,
        documents.first_loaded_at as known_at,
        load_batches.known_date as known_date,
        documents.first_batch_id as batch_id
    from documents
    inner join invoices
        on documents.invoice_id = invoices.invoice_id
    inner join load_batches
        on documents.first_batch_id = load_batches.batch_id

)

select * from final
