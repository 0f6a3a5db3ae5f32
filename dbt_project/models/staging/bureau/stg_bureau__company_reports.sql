-- grain: one row per company (USCC) and report date
with

source as (

    select * from {{ source('bureau', 'bureau_company_reports') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by uscc, report_date order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        uscc,
        report_date,
        company_name,
        registration_status,
        registered_capital,
        litigation_count,
        is_dishonest_debtor,
        bureau_score,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
