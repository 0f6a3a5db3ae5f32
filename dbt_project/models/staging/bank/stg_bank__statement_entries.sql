-- grain: one row per booked bank statement entry, as in its latest delivery
with

source as (

    select * from {{ source('bank', 'bank_statement_entries') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id, entry_reference order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        account_id || ':' || entry_reference as bank_entry_id,
        statement_id,
        account_id as bank_account_id,
        entry_reference,
        booking_date,
        value_date,
        credit_debit = 'CRDT' as is_credit,
        amount,
        currency,
        end_to_end_id,
        payer_name,
        remittance_information,
        -- invoice numbers the payer cited, e.g. "货款 INV26100000010"
        (regexp_match(remittance_information, '(INV[0-9]{6,})'))[1] as cited_invoice_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
