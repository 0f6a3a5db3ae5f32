-- grain: one row per bureau company report and ERP customer it concerns (matched by USCC)
with

reports as (

    select * from {{ ref('stg_bureau__company_reports') }}
    where uscc is not null

),

customers as (

    select * from {{ ref('stg_erp__customers') }}
    where uscc is not null

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

final as (

    select
        reports.subject_id,
        reports.report_date,
        customers.customer_id,
        reports.uscc,
        reports.registration_status_code,
        reports.bureau_score,
        reports.litigation_count,
        reports.is_dishonest_debtor,
        reports.is_business_anomaly,
        reports.admin_penalty_count,
        reports.first_loaded_at as known_at,
        load_batches.known_date as known_date
    from reports
    inner join customers
        on reports.uscc = customers.uscc
    inner join load_batches
        on reports.first_batch_id = load_batches.batch_id

)

select * from final
