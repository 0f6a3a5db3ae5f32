-- grain: one row per bureau subject and report date
with

source as (

    {{ ar_latest_delivery(source('bureau', 'bureau_company_reports'), ['subject_id', 'report_date']) }}

),

final as (

    select
        subject_id,
        uscc,
        company_name,
        report_date,
        registration_status,
        case registration_status
            when '存续' then 'active'
            when '在业' then 'active'
            when '注销' then 'deregistered'
            when '吊销' then 'revoked'
            else 'other'
        end as registration_status_code,
        registered_capital,
        established_date,
        litigation_count,
        is_dishonest_debtor,
        is_business_anomaly,
        admin_penalty_count,
        bureau_score,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
