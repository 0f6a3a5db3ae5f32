-- grain: one row per invoice known on the as-of date (latest delivery of each invoice)
--
-- Amounts paid, credited and written off and the open amount are as of the as-of date and as
-- known on it: documents dated and loaded on or before it (doc `known_date`). Settlement facts
-- (settled date, days beyond terms) are filled once the balance reaches zero.
with

invoices as (

    select * from {{ ref('stg_erp__invoices') }}
    where invoice_date <= {{ as_of_date() }}

),

ledger_lines as (

    select * from {{ ref('int_ar_ledger_lines_unioned') }}

),

as_of_dates as (

    select {{ as_of_date() }} as as_of_date, {{ as_of_date() }} as known_on_date

),

settlements as (

    {{ ar_invoice_settlements('ledger_lines', 'as_of_dates') | indent(4) }}

),

final as (

    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.order_id,
        invoices.invoice_date,
        invoices.due_date,
        invoices.payment_terms,
        invoices.due_date - invoices.invoice_date as payment_terms_days,
        invoices.currency::text as currency,
        invoices.invoice_amount,
        settlements.paid_amount,
        settlements.credited_amount,
        settlements.written_off_amount,
        greatest(settlements.open_amount, 0)::numeric(18, 2) as open_amount,
        settlements.open_amount > 0 as is_open,
        settlements.last_payment_date,
        settlements.settled_date,
        settlements.settled_date - invoices.due_date as days_beyond_terms,
        coalesce(settlements.settled_date > invoices.due_date, false) as is_paid_late,
        settlements.has_write_off as is_written_off,
        case when settlements.open_amount > 0 then settlements.as_of_date - invoices.due_date end
            as days_past_due,
        case
            when settlements.open_amount > 0
                then {{ ar_aging_bucket('settlements.as_of_date - invoices.due_date') }}
        end as aging_bucket,
        settlements.as_of_date,
        invoices.first_loaded_at as known_at,
        settlements.known_at as last_known_at
    from invoices
    inner join settlements
        on invoices.invoice_id = settlements.invoice_id

)

select * from final
