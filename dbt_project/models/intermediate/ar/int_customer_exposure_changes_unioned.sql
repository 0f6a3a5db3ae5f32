-- grain: one row per customer, currency and business date on which an exposure component changes,
-- with the change (delta) of each component from that day on
--
-- Components: open receivables, overdue receivables and open invoice count (from the invoices'
-- open periods), open sales orders, and the ERP's unapplied cash. Each counts from the first
-- nightly run that could see it (doc `known_date`). Daily values are running sums of the deltas.
with

invoice_balances as (

    select * from {{ ref('int_invoice_balances_dated') }}

),

order_events as (

    select * from {{ ref('stg_erp__sales_order_events') }}

),

unapplied_payments as (

    select * from {{ ref('stg_erp__payments') }}
    where invoice_id is null

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

overdue_periods as (

    -- an open period's amount is overdue from the day after the due date
    select
        customer_id,
        currency,
        greatest(valid_from, due_date + 1) as overdue_from,
        valid_to,
        open_amount
    from invoice_balances
    where valid_to is null or greatest(valid_from, due_date + 1) < valid_to

),

order_windows as (

    select
        order_events.order_id,
        max(order_events.customer_id) as customer_id,
        max(order_events.currency)::text as currency,
        max(order_events.order_amount) as order_amount,
        min(greatest(order_events.status_date, load_batches.known_date)) as opened_on,
        min(greatest(order_events.status_date, load_batches.known_date))
            filter (where order_events.order_status in ('invoiced', 'cancelled')) as closed_on
    from order_events
    inner join load_batches
        on order_events.first_batch_id = load_batches.batch_id
    group by order_events.order_id

),

changes as (

    select customer_id, currency, valid_from as change_date,
        open_amount as open_receivables, 0 as overdue_amount, 1 as open_invoice_count,
        0 as open_orders, 0 as unapplied_cash
    from invoice_balances

    union all

    select customer_id, currency, valid_to, -open_amount, 0, -1, 0, 0
    from invoice_balances
    where valid_to is not null

    union all

    select customer_id, currency, overdue_from, 0, open_amount, 0, 0, 0
    from overdue_periods

    union all

    select customer_id, currency, valid_to, 0, -open_amount, 0, 0, 0
    from overdue_periods
    where valid_to is not null

    union all

    select customer_id, currency, opened_on, 0, 0, 0, order_amount, 0
    from order_windows
    where closed_on is null or closed_on > opened_on

    union all

    select customer_id, currency, closed_on, 0, 0, 0, -order_amount, 0
    from order_windows
    where closed_on > opened_on

    union all

    select
        unapplied_payments.customer_id,
        unapplied_payments.currency::text,
        greatest(unapplied_payments.payment_date, load_batches.known_date),
        0, 0, 0, 0,
        unapplied_payments.applied_amount
    from unapplied_payments
    inner join load_batches
        on unapplied_payments.first_batch_id = load_batches.batch_id

),

final as (

    select
        customer_id,
        currency,
        change_date,
        sum(open_receivables) as open_receivables_change,
        sum(overdue_amount) as overdue_amount_change,
        sum(open_invoice_count) as open_invoice_count_change,
        sum(open_orders) as open_orders_change,
        sum(unapplied_cash) as unapplied_cash_change
    from changes
    group by customer_id, currency, change_date

)

select * from final
