-- grain: one row per customer (golden record over its ERP, CRM and bureau records)
with

xref as (

    {{ mdm_source('customer_xref', {
        'source_system': 'text',
        'source_record_id': 'text',
        'customer_id': 'text',
        'match_method': 'text',
        'run_id': 'text',
    }) }}

),

source_records as (

    {{ mdm_source('source_records', {
        'source_system': 'text',
        'source_record_id': 'text',
        'name': 'text',
        'uscc': 'text',
        'registration_number': 'text',
        'vat_number': 'text',
        'country_code': 'text',
        'city': 'text',
        'city_key': 'text',
        'name_region': 'text',
        'registered_city': 'text',
        'industry': 'text',
        'status': 'text',
        'parent_source_record_id': 'text',
    }) }}

),

customer_ids as (

    {{ mdm_source('customer_ids', {
        'customer_id': 'text',
        'issued_at': 'timestamptz',
    }) }}

),

members as (

    select
        xref.customer_id,
        xref.source_system,
        xref.source_record_id,
        xref.match_method,
        xref.run_id,
        source_records.name,
        source_records.uscc,
        source_records.registration_number,
        source_records.vat_number,
        source_records.country_code,
        -- Chinese cities in their short form (上海市 → 上海), others as the source wrote them
        case
            when source_records.city_key ~ '[\u4e00-\u9fff]' then source_records.city_key
            else source_records.city
        end as city,
        source_records.name_region,
        source_records.registered_city,
        source_records.industry,
        source_records.status,
        source_records.parent_source_record_id,
        -- survivorship order: ERP, then bureau, then CRM; among ERP records the ones not closed or
        -- blocked first, then the smallest customer number
        case xref.source_system when 'erp' then 1 when 'bureau' then 2 else 3 end as source_rank,
        case when lower(coalesce(source_records.status, '')) in
            ('closed', 'blocked', 'inactive', 'deregistered', 'revoked', '冻结', '停用', '关闭', '注销')
            then 1 else 0 end as inactive_rank
    from xref
    inner join source_records
        on xref.source_system = source_records.source_system
        and xref.source_record_id = source_records.source_record_id
    where xref.customer_id is not null
      and xref.source_system in ('erp', 'crm', 'bureau')

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id order by source_rank, inactive_rank, source_record_id
        ) as survivor_rank
    from members

),

golden as (

    select
        customer_id,
        -- name and USCC: ERP, else bureau, else CRM (first non-empty in survivorship order)
        (array_agg(name order by survivor_rank) filter (where name is not null))[1] as customer_name,
        (array_agg(uscc order by survivor_rank) filter (where uscc is not null))[1] as uscc,
        (array_agg(registration_number order by survivor_rank)
            filter (where source_system = 'erp' and registration_number is not null))[1] as registration_number,
        (array_agg(vat_number order by survivor_rank)
            filter (where source_system = 'erp' and vat_number is not null))[1] as vat_number,
        (array_agg(country_code order by survivor_rank) filter (where country_code is not null))[1] as country_code,
        -- city: the registering office (USCC division) the bureau reports, else ERP, CRM, name
        coalesce(
            (array_agg(registered_city order by survivor_rank)
                filter (where source_system = 'bureau' and registered_city is not null))[1],
            (array_agg(city order by survivor_rank) filter (where city is not null))[1],
            (array_agg(name_region order by survivor_rank) filter (where name_region is not null))[1],
            (array_agg(registered_city order by survivor_rank) filter (where registered_city is not null))[1]
        ) as city,
        (array_agg(industry order by survivor_rank)
            filter (where source_system = 'erp' and industry is not null))[1] as industry_sector,
        (array_agg(industry order by survivor_rank)
            filter (where source_system = 'crm' and industry is not null))[1] as crm_industry,
        (array_agg(status order by survivor_rank)
            filter (where source_system = 'bureau' and status is not null))[1] as registration_status,
        (array_agg(source_record_id order by survivor_rank) filter (where source_system = 'erp'))[1]
            as primary_erp_customer_id,
        (array_agg(parent_source_record_id order by survivor_rank)
            filter (where source_system = 'erp' and parent_source_record_id is not null))[1]
            as parent_erp_customer_id,
        string_agg(source_record_id, ',' order by source_record_id) filter (where source_system = 'erp')
            as erp_customer_ids,
        string_agg(source_record_id, ',' order by source_record_id) filter (where source_system = 'crm')
            as crm_account_ids,
        string_agg(source_record_id, ',' order by source_record_id) filter (where source_system = 'bureau')
            as bureau_subject_ids,
        count(*) filter (where source_system = 'erp') as erp_record_count,
        count(*) filter (where source_system = 'crm') as crm_record_count,
        count(*) filter (where source_system = 'bureau') as bureau_record_count,
        bool_or(match_method = 'probabilistic') as has_probabilistic_links,
        max(run_id) as resolution_run_id
    from ranked
    group by customer_id

),

bank_entries as (

    select customer_id, count(*) as bank_entry_count
    from xref
    where source_system = 'bank' and customer_id is not null
    group by customer_id

),

parent_customers as (

    select source_record_id as erp_customer_id, customer_id
    from xref
    where source_system = 'erp' and customer_id is not null

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        golden.customer_id,
        golden.customer_name,
        golden.uscc,
        golden.registration_number,
        golden.vat_number,
        golden.country_code,
        golden.country_code is distinct from 'CN' and golden.country_code is not null as is_foreign,
        golden.city,
        golden.industry_sector,
        golden.crm_industry,
        golden.registration_status,
        golden.primary_erp_customer_id,
        golden.erp_customer_ids,
        golden.crm_account_ids,
        golden.bureau_subject_ids,
        nullif(parent_customers.customer_id, golden.customer_id) as parent_customer_id,
        golden.erp_record_count,
        golden.crm_record_count,
        golden.bureau_record_count,
        coalesce(bank_entries.bank_entry_count, 0) as bank_entry_count,
        golden.erp_record_count > 0 as is_erp_customer,
        golden.has_probabilistic_links,
        customer_ids.issued_at as customer_id_issued_at,
        golden.resolution_run_id
    from golden
    left join bank_entries on golden.customer_id = bank_entries.customer_id
    left join parent_customers on golden.parent_erp_customer_id = parent_customers.erp_customer_id
    left join customer_ids on golden.customer_id = customer_ids.customer_id

)

select * from final
