-- grain: one row per invoice and period of constant open amount, as the nightly runs saw it
--
-- A ledger line counts in the run of business date D when it is dated on or before D, its invoice
-- too, and the warehouse knew it on D: from its effective date greatest(document, invoice, known
-- date). Between two effective dates an invoice's open amount is constant; only periods with an
-- open amount above zero are kept (like ar_open_items, an overpaid invoice is not negative AR).
-- Exposure per day is then a sum over the periods containing the day.
with

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

effective as (

    select
        invoice_id,
        customer_id,
        currency,
        due_date,
        greatest(document_date, invoice_date, known_date) as effective_date,
        sum(signed_amount) as net_amount,
        bool_or(document_type = 'invoice') as has_invoice_line
    from ledger_lines
    group by invoice_id, customer_id, currency, due_date, greatest(document_date, invoice_date, known_date)

),

running as (

    select
        *,
        sum(net_amount) over (partition by invoice_id order by effective_date) as running_amount,
        bool_or(has_invoice_line) over (partition by invoice_id order by effective_date) as is_invoice_known,
        lead(effective_date) over (partition by invoice_id order by effective_date) as next_effective_date
    from effective

),

final as (

    select
        invoice_id,
        customer_id,
        currency,
        due_date,
        effective_date as valid_from,
        next_effective_date as valid_to,
        running_amount::numeric(18, 2) as open_amount
    from running
    where is_invoice_known and running_amount > 0

)

select * from final
