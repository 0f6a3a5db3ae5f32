-- grain: one row per currency and rate date (CNY per unit of the currency)
with

source as (

    {{ ar_latest_delivery(source('erp', 'erp_fx_rates'), ['rate_date', 'currency']) }}

),

final as (

    select
        rate_date,
        currency,
        cny_per_unit,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        first_batch_id,
        first_loaded_at
    from source

)

select * from final
