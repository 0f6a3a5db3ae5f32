-- grain: one row per account owner (sales rep)
with

source as (

    {{ latest_delivery(source('crm', 'crm_owners'), ['owner_id']) }}

),

final as (

    select
        owner_id,
        team,
        owner_name_hash,
        email_hash,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source

)

select * from final
