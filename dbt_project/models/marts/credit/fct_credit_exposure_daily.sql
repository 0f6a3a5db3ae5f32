-- grain: one row per customer and as-of (business) date
--
-- Open receivables as of the date: invoices dated on or before it, less payments received on or
-- before it; payments after the as-of date never reduce it (DOMAIN.md, "as of a past date").
-- Incremental by as_of_date with delete+insert, so rebuilding a date replaces exactly that date.
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'customer_id'],
        incremental_strategy='delete+insert',
    )
}}

with

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}
    where invoice_date <= {{ as_of_date() }}

),

payments as (

    select * from {{ ref('stg_erp__payments') }}
    where payment_date <= {{ as_of_date() }}

),

paid_per_invoice as (

    select
        invoice_id,
        sum(applied_amount) as paid_amount
    from payments
    group by invoice_id

),

open_items as (

    select
        invoices.customer_id,
        invoices.invoice_amount - coalesce(paid_per_invoice.paid_amount, 0) as open_amount
    from invoices
    left join paid_per_invoice
        on invoices.invoice_id = paid_per_invoice.invoice_id
    where invoices.invoice_amount - coalesce(paid_per_invoice.paid_amount, 0) > 0

),

open_receivables as (

    select
        customer_id,
        sum(open_amount) as open_receivables,
        count(*) as open_invoice_count
    from open_items
    group by customer_id

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        customers.customer_id,
        customers.customer_name,
        customers.credit_limit_currency as currency,
        coalesce(open_receivables.open_receivables, 0)::numeric(18, 2) as open_receivables,
        coalesce(open_receivables.open_invoice_count, 0) as open_invoice_count,
        -- exposure = open AR for now; open orders and unapplied cash join it with their feeds
        coalesce(open_receivables.open_receivables, 0)::numeric(18, 2) as exposure,
        customers.credit_limit,
        round(
            coalesce(open_receivables.open_receivables, 0) / nullif(customers.credit_limit, 0), 4
        ) as utilisation,
        (customers.credit_limit - coalesce(open_receivables.open_receivables, 0))::numeric(18, 2)
            as headroom,
        coalesce(open_receivables.open_receivables, 0) > customers.credit_limit as is_over_limit
    from customers
    left join open_receivables
        on customers.customer_id = open_receivables.customer_id

)

select * from final
