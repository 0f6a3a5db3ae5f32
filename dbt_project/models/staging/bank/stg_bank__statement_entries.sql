-- grain: one row per booked bank statement entry, as in its latest delivery
with

source as (

    {{ ar_latest_delivery(source('bank', 'bank_statement_entries'), ['account_id', 'entry_reference']) }}

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
        payer_account_hash,
        remittance_information,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
