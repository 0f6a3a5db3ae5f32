-- grain: one row per payment application to an invoice, as in its latest delivery
with

source as (

    select * from {{ source('erp', 'erp_payments') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by payment_id, invoice_id order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        payment_id,
        invoice_id,
        customer_id,
        payment_date,
        currency,
        amount as applied_amount,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
