-- grain: one row per candidate match a data steward should decide (grey zone, refused or ambiguous)
with

queue as (

    {{ mdm_source('review_queue', {
        'review_id': 'text',
        'kind': 'text',
        'review_reason': 'text',
        'match_probability': 'double precision',
        'reasons': 'text',
        'left_source_system': 'text',
        'left_source_record_id': 'text',
        'left_name': 'text',
        'left_uscc': 'text',
        'left_city': 'text',
        'left_country_code': 'text',
        'left_customer_id': 'text',
        'right_source_system': 'text',
        'right_source_record_id': 'text',
        'right_name': 'text',
        'right_uscc': 'text',
        'right_city': 'text',
        'right_country_code': 'text',
        'right_customer_id': 'text',
        'run_id': 'text',
        'queued_at': 'timestamptz',
    }) }}

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        review_id,
        kind as review_kind,
        review_reason,
        match_probability,
        reasons as match_reasons,
        left_source_system,
        left_source_record_id,
        left_name,
        left_uscc,
        left_city,
        left_country_code,
        left_customer_id,
        right_source_system,
        right_source_record_id,
        right_name,
        right_uscc,
        right_city,
        right_country_code,
        right_customer_id,
        run_id as resolution_run_id,
        queued_at
    from queue

)

select * from final
order by match_probability desc
