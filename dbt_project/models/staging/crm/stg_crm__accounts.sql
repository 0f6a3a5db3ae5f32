-- grain: one row per CRM account, as in its latest delivery
with

source as (

    {{ latest_delivery(source('crm', 'crm_accounts'), ['account_id']) }}

),

final as (

    select
        account_id,
        account_name,
        uscc,
        city,
        industry,
        owner_id,
        created_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source

)

select * from final
