-- grain: one row per payment application line (invoice_id null: the unapplied remainder)
--
-- An ERP may apply one payment to one invoice in several lines (e.g. 73,128.05 + 73,273.95): the
-- applied amount is part of the key, so that only identical repeated lines (a delta's duplicate)
-- collapse, not split applications.
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_payments'), ['payment_id', "coalesce(invoice_id, '')", 'applied_amount']) }}

),

final as (

    select
        payment_id || ':' || coalesce(invoice_id, '-') || ':' || coalesce(applied_amount::text, '') as payment_line_id,
        payment_id,
        customer_id,
        payment_date,
        currency,
        payment_amount,
        invoice_id,
        applied_amount,
        invoice_id is null as is_unapplied,
        bank_reference,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
