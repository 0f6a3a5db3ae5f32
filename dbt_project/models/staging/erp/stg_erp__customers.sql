-- grain: one row per ERP customer, as in its latest delivery (full extracts and deltas)
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_customers'), ['customer_id']) }}

),

final as (

    select
        customer_id,
        customer_name,
        uscc,
        registration_number,
        vat_number,
        coalesce(country, 'CN') as country_code,
        city,
        industry,
        parent_customer_id,
        payment_terms,
        coalesce(nullif(regexp_replace(payment_terms, '\D', '', 'g'), ''), '30')::int as payment_terms_days,
        credit_limit,
        currency as credit_limit_currency,
        coalesce(status, 'active') as customer_status,
        created_date,
        -- personal data stays encrypted in raw; staging carries only the blind indexes for matching
        legal_rep_name_hash,
        legal_rep_id_number_hash,
        legal_rep_mobile_hash,
        iban,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
