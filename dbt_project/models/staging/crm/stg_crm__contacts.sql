-- grain: one row per CRM contact; personal data only as blind indexes
with

source as (

    {{ latest_delivery(source('crm', 'crm_contacts'), ['contact_id']) }}

),

final as (

    select
        contact_id,
        account_id,
        title,
        contact_name_hash,
        mobile_hash,
        email_hash,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source

)

select * from final
