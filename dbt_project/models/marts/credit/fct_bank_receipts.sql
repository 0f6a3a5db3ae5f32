-- grain: one row per bank receipt (credit entry of the company's statements) booked and loaded on
-- or before the as-of date, with its cash application: matched customer, method, applied and
-- unapplied amounts. Unapplied cash stays visible here until it is applied.
--
-- Planned without nested loops (macro ar_without_nested_loops_hooks): the cash application's
-- amount combinations otherwise join its CTEs by nested loops that grow with the square of the
-- receipts.
{{ config(pre_hook=ar_without_nested_loops_hooks()[0], post_hook=ar_without_nested_loops_hooks()[1]) }}
with

bank_entries as (

    select * from {{ ref('stg_bank__statement_entries') }}
    where is_credit and booking_date <= {{ as_of_date() }}

),

applications as (

    select * from {{ ref('int_bank_receipts_matched_to_invoices') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

receipt_applications as (

    select
        bank_entry_id,
        max(customer_id) as customer_id,
        max(match_method) as match_method,
        max(payer_identified_by) as payer_identified_by,
        max(erp_payment_id) as erp_payment_id,
        coalesce(sum(applied_amount) filter (where invoice_id is not null), 0) as applied_amount,
        count(distinct invoice_id) as matched_invoice_count
    from applications
    group by bank_entry_id

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        bank_entries.bank_entry_id,
        bank_entries.bank_account_id,
        bank_entries.entry_reference,
        bank_entries.statement_id,
        bank_entries.booking_date,
        bank_entries.value_date,
        bank_entries.currency::text as currency,
        bank_entries.amount as receipt_amount,
        bank_entries.payer_name,
        bank_entries.payer_account_hash,
        bank_entries.remittance_information,
        bank_entries.end_to_end_id,
        receipt_applications.customer_id,
        receipt_applications.payer_identified_by,
        receipt_applications.match_method,
        receipt_applications.matched_invoice_count,
        receipt_applications.applied_amount::numeric(18, 2) as applied_amount,
        (bank_entries.amount - receipt_applications.applied_amount)::numeric(18, 2) as unapplied_amount,
        receipt_applications.applied_amount = bank_entries.amount as is_fully_applied,
        receipt_applications.erp_payment_id is not null as is_recorded_in_erp,
        receipt_applications.erp_payment_id,
        bank_entries.first_loaded_at as known_at,
        load_batches.known_date as known_date
    from bank_entries
    inner join load_batches
        on bank_entries.first_batch_id = load_batches.batch_id
    inner join receipt_applications
        on bank_entries.bank_entry_id = receipt_applications.bank_entry_id

)

select * from final
