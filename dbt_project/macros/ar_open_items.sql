{#- Open items as of one or more dates, bitemporally (doc block `open_items_as_of`).

    `ledger`: the AR ledger (int_ar_ledger_lines_unioned or a relation with its columns).
    `as_of_dates`: a relation or CTE name with columns `as_of_date` (business date) and
    `known_on_date` (knowledge cut-off; null = everything the warehouse has loaded).

    An invoice is open on D when it is dated on or before D and its amount less the credit notes,
    payments and write-offs dated on or before D is above zero; later documents never reduce it.
    "Known on K" keeps only ledger lines first loaded by the nightly run of business date K or an
    earlier one (known_date <= K). One row per as-of date and open invoice. -#}
{% macro ar_open_items(ledger, as_of_dates) -%}
    select
        balances.*,
        {{ ar_aging_bucket('balances.days_past_due') }} as aging_bucket,
        {{ ar_aging_bucket_order('balances.days_past_due') }} as aging_bucket_order
    from (
        select
            as_of_dates.as_of_date,
            as_of_dates.known_on_date,
            lines.invoice_id,
            lines.customer_id,
            lines.currency,
            lines.invoice_date,
            lines.due_date,
            sum(lines.signed_amount) filter (where lines.document_type = 'invoice')::numeric(18, 2)
                as invoice_amount,
            sum(lines.signed_amount)::numeric(18, 2) as open_amount,
            as_of_dates.as_of_date - lines.due_date as days_past_due,
            max(lines.known_at) as known_at
        from {{ as_of_dates }} as as_of_dates
        inner join {{ ledger }} as lines
            on lines.invoice_date <= as_of_dates.as_of_date
            and lines.document_date <= as_of_dates.as_of_date
            and (as_of_dates.known_on_date is null or lines.known_date <= as_of_dates.known_on_date)
        group by
            as_of_dates.as_of_date,
            as_of_dates.known_on_date,
            lines.invoice_id,
            lines.customer_id,
            lines.currency,
            lines.invoice_date,
            lines.due_date
        having
            bool_or(lines.document_type = 'invoice')
            and sum(lines.signed_amount) > 0
    ) as balances
{%- endmacro %}


{#- Each invoice's settlement as of one or more dates, bitemporally like ar_open_items: amounts
    paid, credited and written off, the open amount (may be zero or negative when overpaid) and
    `settled_date`, the day from which the balance stays at or below zero (null while open).
    One row per as-of date and invoice known then. -#}
{% macro ar_invoice_settlements(ledger, as_of_dates) -%}
    select
        daily.as_of_date,
        daily.known_on_date,
        daily.invoice_id,
        max(daily.customer_id) as customer_id,
        max(daily.currency) as currency,
        max(daily.invoice_date) as invoice_date,
        max(daily.due_date) as due_date,
        sum(daily.invoiced_amount)::numeric(18, 2) as invoice_amount,
        sum(daily.paid_amount)::numeric(18, 2) as paid_amount,
        sum(daily.credited_amount)::numeric(18, 2) as credited_amount,
        sum(daily.written_off_amount)::numeric(18, 2) as written_off_amount,
        sum(daily.net_amount)::numeric(18, 2) as open_amount,
        max(daily.document_date) filter (where daily.paid_amount > 0) as last_payment_date,
        case
            when sum(daily.net_amount) <= 0
                then min(daily.document_date) filter (where daily.running_balance <= 0 and daily.is_after_last_positive)
        end as settled_date,
        bool_or(daily.written_off_amount > 0) as has_write_off,
        max(daily.known_at) as known_at
    from (
        select
            by_date.*,
            by_date.document_date > coalesce(
                max(by_date.document_date) filter (where by_date.running_balance > 0) over (
                    partition by by_date.as_of_date, by_date.invoice_id
                ),
                date '0001-01-01'
            ) as is_after_last_positive
        from (
            select
                grouped.*,
                sum(grouped.net_amount) over (
                    partition by grouped.as_of_date, grouped.invoice_id
                    order by grouped.document_date
                ) as running_balance
            from (
                select
                    as_of_dates.as_of_date,
                    as_of_dates.known_on_date,
                    lines.invoice_id,
                    lines.document_date,
                    max(lines.customer_id) as customer_id,
                    max(lines.currency) as currency,
                    max(lines.invoice_date) as invoice_date,
                    max(lines.due_date) as due_date,
                    coalesce(sum(lines.signed_amount) filter (where lines.document_type = 'invoice'), 0)
                        as invoiced_amount,
                    coalesce(-sum(lines.signed_amount) filter (where lines.document_type = 'payment'), 0)
                        as paid_amount,
                    coalesce(-sum(lines.signed_amount) filter (where lines.document_type = 'credit_note'), 0)
                        as credited_amount,
                    coalesce(-sum(lines.signed_amount) filter (where lines.document_type = 'write_off'), 0)
                        as written_off_amount,
                    sum(lines.signed_amount) as net_amount,
                    bool_or(lines.document_type = 'invoice') as has_invoice_line,
                    max(lines.known_at) as known_at
                from {{ as_of_dates }} as as_of_dates
                inner join {{ ledger }} as lines
                    on lines.invoice_date <= as_of_dates.as_of_date
                    and lines.document_date <= as_of_dates.as_of_date
                    and (as_of_dates.known_on_date is null or lines.known_date <= as_of_dates.known_on_date)
                group by as_of_dates.as_of_date, as_of_dates.known_on_date, lines.invoice_id, lines.document_date
            ) as grouped
        ) as by_date
    ) as daily
    group by daily.as_of_date, daily.known_on_date, daily.invoice_id
    having bool_or(daily.has_invoice_line)
{%- endmacro %}
