-- grain: one row per CRM account, as in its latest delivery
with

source as (

    select * from {{ source('crm', 'crm_accounts') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id order by _batch_id desc, _source_line desc
        ) as delivery_rank
    from source

),

final as (

    select
        account_id,
        account_name,
        uscc,
        owner_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from ranked
    where delivery_rank = 1

)

select * from final
