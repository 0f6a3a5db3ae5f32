-- grain: one row per invoice, as in its latest delivery
with

source as (

    select * from {{ source('erp', 'erp_invoices') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by invoice_id order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        invoice_id,
        customer_id,
        invoice_date,
        due_date,
        currency,
        amount as invoice_amount,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
