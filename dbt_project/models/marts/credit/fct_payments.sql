-- grain: one row per ERP payment application: a payment and the invoice it is applied to
-- (invoice_id null: the payment's unapplied remainder), dated and loaded on or before the as-of date
with

payments as (

    select * from {{ ref('stg_erp__payments') }}
    where payment_date <= {{ as_of_date() }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

bank_entries as (

    select * from {{ ref('stg_bank__statement_entries') }}
    where is_credit

),

bank_receipts as (

    -- the ERP keeps the bank's entry reference without the account: the first account wins
    select distinct on (entry_reference) entry_reference, bank_entry_id
    from bank_entries
    order by entry_reference, bank_entry_id

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        payments.payment_line_id as payment_application_id,
        payments.payment_id,
        payments.invoice_id,
        payments.customer_id,
        payments.payment_date,
        payments.currency::text as currency,
        payments.payment_amount,
        payments.applied_amount,
        payments.is_unapplied,
        invoices.due_date as invoice_due_date,
        payments.payment_date - invoices.due_date as days_beyond_terms,
        payments.payment_date > invoices.due_date as is_paid_after_due_date,
        payments.bank_reference,
        bank_receipts.bank_entry_id,
        payments.first_loaded_at as known_at,
        load_batches.known_date as known_date
    from payments
    inner join load_batches
        on payments.first_batch_id = load_batches.batch_id
    left join invoices
        on payments.invoice_id = invoices.invoice_id
    left join bank_receipts
        on payments.bank_reference = bank_receipts.entry_reference
    where load_batches.known_date <= {{ as_of_date() }}

)

select * from final
