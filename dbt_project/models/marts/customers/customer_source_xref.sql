-- grain: one row per source record (ERP customer, CRM account, bureau subject, incoming bank entry)
with

xref as (

    {{ mdm_source('customer_xref', {
        'source_system': 'text',
        'source_record_id': 'text',
        'customer_id': 'text',
        'match_method': 'text',
        'match_probability': 'double precision',
        'match_reasons': 'text',
        'run_id': 'text',
        'resolved_at': 'timestamptz',
    }) }}

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        source_system,
        source_record_id,
        customer_id,
        match_method,
        match_probability,
        match_reasons,
        run_id as resolution_run_id,
        resolved_at
    from xref

)

select * from final
