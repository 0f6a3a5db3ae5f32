-- grain: one row per bank receipt and invoice it is applied to, plus one row (invoice_id null) per
-- receipt for the amount left unapplied; receipts booked and loaded on or before the as-of date
--
-- Cash application, first rule that finds something wins (doc `cash_application`):
--   1. erp_reference: the ERP recorded the receipt (payments.bank_reference = the entry reference):
--      its customer and its own application to invoices;
--   2. erp_amount_date: an ERP payment no bank entry references, of the same amount and currency,
--      dated within 5 days of the booking, from the payer if known (the closest date wins): the
--      ERP's application;
--   3. remittance_invoice: invoice numbers cited in the remittance information (one or several;
--      a number's last 6+ characters are enough among the payer's own invoices), applied to their
--      open amounts in due-date order;
--   4. amount_single / amount_combination: the payer has one open invoice of exactly the amount,
--      or two or three whose open amounts add up to it (fewest invoices, earliest due dates first);
--   5. unmatched: the whole amount is unapplied (and kept, with the payer if identified).
-- The payer: the customer the ERP recorded for earlier receipts from the same account, else the
-- customer whose name matches the payer name. Open amounts are those of the day before the
-- booking, from the ERP ledger known on the as-of date.
--
-- fct_bank_receipts reads this view with nested loops off (macro ar_without_nested_loops_hooks):
-- the amount combinations' self-joins otherwise grow with the square of the receipts; a query of
-- the view on its own wants `set enable_nestloop = off` too.
with

bank_entries as (

    select * from {{ ref('stg_bank__statement_entries') }}
    where is_credit

),

erp_payments as (

    select * from {{ ref('stg_erp__payments') }}

),

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}
    where known_date <= {{ as_of_date() }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

receipts as (

    select
        bank_entries.bank_entry_id,
        bank_entries.entry_reference,
        bank_entries.booking_date,
        bank_entries.currency::text as currency,
        bank_entries.amount as receipt_amount,
        bank_entries.payer_name,
        bank_entries.payer_account_hash,
        bank_entries.remittance_information
    from bank_entries
    inner join load_batches
        on bank_entries.first_batch_id = load_batches.batch_id
    where load_batches.known_date <= {{ as_of_date() }}
        and bank_entries.booking_date <= {{ as_of_date() }}

),

known_erp_payments_all as (

    select erp_payments.*
    from erp_payments
    inner join load_batches
        on erp_payments.first_batch_id = load_batches.batch_id
    where load_batches.known_date <= {{ as_of_date() }}
        and erp_payments.payment_date <= {{ as_of_date() }}

),

known_erp_payments as (

    select * from known_erp_payments_all
    where bank_reference is not null

),

-- 1. the ERP's own application of the receipt
erp_matched as (

    select
        receipts.bank_entry_id,
        known_erp_payments.customer_id,
        known_erp_payments.invoice_id,
        known_erp_payments.applied_amount,
        known_erp_payments.payment_id as erp_payment_id
    from receipts
    inner join known_erp_payments
        on receipts.entry_reference = known_erp_payments.bank_reference

),

-- the payer: the customer the ERP recorded for the same account, else by name
payer_accounts as (

    select distinct on (receipts.payer_account_hash)
        receipts.payer_account_hash,
        erp_matched.customer_id
    from receipts
    inner join erp_matched
        on receipts.bank_entry_id = erp_matched.bank_entry_id
    where receipts.payer_account_hash is not null
    group by receipts.payer_account_hash, erp_matched.customer_id
    order by receipts.payer_account_hash, count(*) desc, erp_matched.customer_id

),

customer_names as (

    select distinct on (normalised_name)
        {{ ar_normalised_name('customer_name') }} as normalised_name,
        customer_id
    from customers
    order by normalised_name, customer_id

),

other_receipts as (

    select
        receipts.*,
        coalesce(payer_accounts.customer_id, customer_names.customer_id) as payer_customer_id,
        case
            when payer_accounts.customer_id is not null then 'payer_account'
            when customer_names.customer_id is not null then 'payer_name'
        end as payer_identified_by
    from receipts
    left join payer_accounts
        on receipts.payer_account_hash = payer_accounts.payer_account_hash
    left join customer_names
        on {{ ar_normalised_name('receipts.payer_name') }} = customer_names.normalised_name
    where receipts.bank_entry_id not in (select bank_entry_id from erp_matched)

),

-- 2. an ERP payment without a bank reference, by amount and date
unreferenced_erp_payments as (

    select
        payment_id,
        max(customer_id) as customer_id,
        max(currency)::text as currency,
        max(payment_amount) as payment_amount,
        max(payment_date) as payment_date
    from known_erp_payments_all
    -- no reference, or one to no bank entry the warehouse has (a late statement would show it)
    where bank_reference is null or bank_reference not in (select entry_reference from bank_entries)
    group by payment_id

),

erp_amount_candidates as (

    select
        other_receipts.bank_entry_id,
        unreferenced_erp_payments.payment_id,
        unreferenced_erp_payments.customer_id,
        row_number() over (
            partition by other_receipts.bank_entry_id
            order by abs(unreferenced_erp_payments.payment_date - other_receipts.booking_date),
                unreferenced_erp_payments.payment_id
        ) as receipt_rank,
        row_number() over (
            partition by unreferenced_erp_payments.payment_id
            order by abs(unreferenced_erp_payments.payment_date - other_receipts.booking_date),
                other_receipts.bank_entry_id
        ) as payment_rank
    from other_receipts
    inner join unreferenced_erp_payments
        on other_receipts.currency = unreferenced_erp_payments.currency
        and other_receipts.receipt_amount = unreferenced_erp_payments.payment_amount
        and abs(unreferenced_erp_payments.payment_date - other_receipts.booking_date) <= 5
        and (
            other_receipts.payer_customer_id is null
            or other_receipts.payer_customer_id = unreferenced_erp_payments.customer_id
        )

),

erp_amount_matched as (

    select
        erp_amount_candidates.bank_entry_id,
        known_erp_payments_all.customer_id,
        known_erp_payments_all.invoice_id,
        known_erp_payments_all.applied_amount,
        known_erp_payments_all.payment_id as erp_payment_id
    from erp_amount_candidates
    inner join known_erp_payments_all
        on erp_amount_candidates.payment_id = known_erp_payments_all.payment_id
    where erp_amount_candidates.receipt_rank = 1 and erp_amount_candidates.payment_rank = 1

),

unreferenced_receipts as (

    select * from other_receipts
    where bank_entry_id not in (select bank_entry_id from erp_amount_matched)

),

invoice_lines as (

    select * from ledger_lines
    where document_type = 'invoice'

),

-- 3. invoice numbers cited in the remittance information
remittance_tokens as (

    select distinct
        unreferenced_receipts.bank_entry_id,
        unreferenced_receipts.payer_customer_id,
        replace(token, '-', '') as normalised_token
    from unreferenced_receipts
    cross join lateral regexp_split_to_table(
        upper(coalesce(unreferenced_receipts.remittance_information, '')), '[^A-Z0-9-]+'
    ) as token
    where length(replace(token, '-', '')) >= 6

),

cited_invoices as (

    select
        remittance_tokens.bank_entry_id,
        invoice_lines.invoice_id
    from remittance_tokens
    inner join invoice_lines
        on remittance_tokens.normalised_token = replace(upper(invoice_lines.invoice_id), '-', '')

    union

    -- a shortened number: the end of one of the payer's invoice numbers
    select
        remittance_tokens.bank_entry_id,
        invoice_lines.invoice_id
    from remittance_tokens
    inner join invoice_lines
        on remittance_tokens.payer_customer_id = invoice_lines.customer_id
        and right(replace(upper(invoice_lines.invoice_id), '-', ''), length(remittance_tokens.normalised_token))
            = remittance_tokens.normalised_token

),

open_before_booking as (

    -- open amount of each invoice of interest on the day before a receipt's booking
    select
        receipt_invoices.bank_entry_id,
        ledger_lines.invoice_id,
        max(ledger_lines.customer_id) as customer_id,
        max(ledger_lines.currency) as currency,
        max(ledger_lines.due_date) as due_date,
        sum(ledger_lines.signed_amount) as open_amount
    from (
        select bank_entry_id, invoice_id from cited_invoices
        union
        select
            unreferenced_receipts.bank_entry_id,
            invoice_lines.invoice_id
        from unreferenced_receipts
        inner join invoice_lines
            on unreferenced_receipts.payer_customer_id = invoice_lines.customer_id
            and unreferenced_receipts.currency = invoice_lines.currency
            and invoice_lines.invoice_date < unreferenced_receipts.booking_date
    ) as receipt_invoices
    inner join receipts
        on receipt_invoices.bank_entry_id = receipts.bank_entry_id
    inner join ledger_lines
        on receipt_invoices.invoice_id = ledger_lines.invoice_id
        and ledger_lines.document_date < receipts.booking_date
    group by receipt_invoices.bank_entry_id, ledger_lines.invoice_id
    having bool_or(ledger_lines.document_type = 'invoice')

),

cited_allocated as (

    select
        open_before_booking.bank_entry_id,
        first_value(open_before_booking.customer_id) over (
            partition by open_before_booking.bank_entry_id
            order by open_before_booking.due_date, open_before_booking.invoice_id
        ) as customer_id,
        open_before_booking.invoice_id,
        least(
            greatest(open_before_booking.open_amount, 0),
            greatest(
                receipts.receipt_amount - (
                    sum(greatest(open_before_booking.open_amount, 0)) over (
                        partition by open_before_booking.bank_entry_id
                        order by open_before_booking.due_date, open_before_booking.invoice_id
                    ) - greatest(open_before_booking.open_amount, 0)
                ),
                0
            )
        ) as applied_amount
    from open_before_booking
    inner join receipts
        on open_before_booking.bank_entry_id = receipts.bank_entry_id
    inner join cited_invoices
        on open_before_booking.bank_entry_id = cited_invoices.bank_entry_id
        and open_before_booking.invoice_id = cited_invoices.invoice_id

),

-- 4. the payer's open invoices, by amount
amount_receipts as (

    select * from unreferenced_receipts
    where bank_entry_id not in (select bank_entry_id from cited_allocated where applied_amount > 0)
        and payer_customer_id is not null

),

ranked_candidates as (

    select
        open_before_booking.*,
        row_number() over (
            partition by open_before_booking.bank_entry_id
            order by open_before_booking.due_date, open_before_booking.invoice_id
        ) as candidate_rank
    from open_before_booking
    inner join amount_receipts
        on open_before_booking.bank_entry_id = amount_receipts.bank_entry_id
        and open_before_booking.customer_id = amount_receipts.payer_customer_id
    where open_before_booking.open_amount > 0

),

amount_combinations as (

    select
        amount_receipts.bank_entry_id,
        'amount_single' as match_method,
        array[first_invoice.invoice_id] as invoice_ids,
        array[first_invoice.open_amount] as open_amounts,
        array[first_invoice.candidate_rank] as ranks
    from amount_receipts
    inner join ranked_candidates as first_invoice
        on amount_receipts.bank_entry_id = first_invoice.bank_entry_id
        and first_invoice.open_amount = amount_receipts.receipt_amount

    union all

    select
        amount_receipts.bank_entry_id,
        'amount_combination',
        array[first_invoice.invoice_id, second_invoice.invoice_id],
        array[first_invoice.open_amount, second_invoice.open_amount],
        array[first_invoice.candidate_rank, second_invoice.candidate_rank]
    from amount_receipts
    inner join ranked_candidates as first_invoice
        on amount_receipts.bank_entry_id = first_invoice.bank_entry_id
    inner join ranked_candidates as second_invoice
        on first_invoice.bank_entry_id = second_invoice.bank_entry_id
        and first_invoice.candidate_rank < second_invoice.candidate_rank
        and first_invoice.open_amount + second_invoice.open_amount = amount_receipts.receipt_amount

    union all

    select
        amount_receipts.bank_entry_id,
        'amount_combination',
        array[first_invoice.invoice_id, second_invoice.invoice_id, third_invoice.invoice_id],
        array[first_invoice.open_amount, second_invoice.open_amount, third_invoice.open_amount],
        array[first_invoice.candidate_rank, second_invoice.candidate_rank, third_invoice.candidate_rank]
    from amount_receipts
    inner join ranked_candidates as first_invoice
        on amount_receipts.bank_entry_id = first_invoice.bank_entry_id
        -- three-invoice combinations only among a payer's 30 oldest open invoices
        and first_invoice.candidate_rank <= 30
    inner join ranked_candidates as second_invoice
        on first_invoice.bank_entry_id = second_invoice.bank_entry_id
        and first_invoice.candidate_rank < second_invoice.candidate_rank
        and second_invoice.candidate_rank <= 30
    inner join ranked_candidates as third_invoice
        on second_invoice.bank_entry_id = third_invoice.bank_entry_id
        and second_invoice.candidate_rank < third_invoice.candidate_rank
        and third_invoice.candidate_rank <= 30
        and first_invoice.open_amount + second_invoice.open_amount + third_invoice.open_amount
            = amount_receipts.receipt_amount

),

best_combination as (

    -- fewest invoices first, then the oldest due dates
    select distinct on (bank_entry_id) *
    from amount_combinations
    order by bank_entry_id, cardinality(invoice_ids), ranks

),

amount_matched as (

    select
        best_combination.bank_entry_id,
        best_combination.match_method,
        combination.invoice_id,
        combination.open_amount as applied_amount
    from best_combination
    cross join lateral unnest(best_combination.invoice_ids, best_combination.open_amounts)
        as combination (invoice_id, open_amount)

),

applications as (

    select bank_entry_id, invoice_id, applied_amount, 'erp_reference' as match_method, customer_id,
        'erp_payment' as payer_identified_by, erp_payment_id
    from erp_matched

    union all

    select bank_entry_id, invoice_id, applied_amount, 'erp_amount_date', customer_id,
        'erp_payment', erp_payment_id
    from erp_amount_matched

    union all

    select bank_entry_id, invoice_id, applied_amount, 'remittance_invoice', customer_id,
        'cited_invoice', null
    from cited_allocated
    where applied_amount > 0

    union all

    select amount_matched.bank_entry_id, amount_matched.invoice_id, amount_matched.applied_amount,
        amount_matched.match_method, amount_receipts.payer_customer_id, amount_receipts.payer_identified_by, null
    from amount_matched
    inner join amount_receipts
        on amount_matched.bank_entry_id = amount_receipts.bank_entry_id

),

receipt_outcomes as (

    select
        receipts.bank_entry_id,
        receipts.receipt_amount,
        coalesce(matched.match_method, 'unmatched') as match_method,
        coalesce(matched.customer_id, other_receipts.payer_customer_id) as customer_id,
        coalesce(matched.payer_identified_by, other_receipts.payer_identified_by) as payer_identified_by,
        matched.erp_payment_id,
        coalesce(matched.applied_amount, 0) as applied_amount
    from receipts
    left join (
        select
            bank_entry_id,
            min(match_method) as match_method,
            min(customer_id) as customer_id,
            min(payer_identified_by) as payer_identified_by,
            min(erp_payment_id) as erp_payment_id,
            sum(applied_amount) filter (where invoice_id is not null) as applied_amount
        from applications
        group by bank_entry_id
    ) as matched
        on receipts.bank_entry_id = matched.bank_entry_id
    left join other_receipts
        on receipts.bank_entry_id = other_receipts.bank_entry_id

),

final as (

    select
        applications.bank_entry_id,
        applications.invoice_id,
        applications.applied_amount::numeric(18, 2) as applied_amount,
        applications.match_method,
        applications.customer_id,
        applications.payer_identified_by,
        applications.erp_payment_id
    from applications
    where applications.invoice_id is not null

    union all

    -- what is left unapplied (the whole receipt when nothing matched)
    select
        bank_entry_id,
        null,
        (receipt_amount - applied_amount)::numeric(18, 2),
        match_method,
        customer_id,
        payer_identified_by,
        erp_payment_id
    from receipt_outcomes
    where receipt_amount <> applied_amount or applied_amount = 0

)

select * from final
