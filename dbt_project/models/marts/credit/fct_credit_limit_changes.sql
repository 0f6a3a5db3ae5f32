-- grain: one row per customer and credit limit change (validity start), as known on the as-of date
with

limit_changes as (

    select * from {{ ref('stg_erp__credit_limit_changes') }}
    where valid_from <= {{ as_of_date() }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

known as (

    select
        limit_changes.*,
        load_batches.known_date as known_date
    from limit_changes
    inner join load_batches
        on limit_changes.first_batch_id = load_batches.batch_id
    where load_batches.known_date <= {{ as_of_date() }}

),

sequenced as (

    select
        *,
        lag(credit_limit) over (partition by customer_id order by valid_from) as preceding_limit,
        lead(valid_from) over (partition by customer_id order by valid_from) as next_valid_from
    from known

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        customer_id || ':' || valid_from::text as credit_limit_change_id,
        customer_id,
        valid_from,
        next_valid_from - 1 as valid_to,
        next_valid_from is null as is_current,
        credit_limit,
        credit_limit_currency::text as currency,
        coalesce(previous_limit, preceding_limit) as previous_limit,
        (credit_limit - coalesce(previous_limit, preceding_limit))::numeric(18, 2) as limit_change_amount,
        round((credit_limit - coalesce(previous_limit, preceding_limit))
            / nullif(coalesce(previous_limit, preceding_limit), 0), 4) as limit_change_ratio,
        case
            when coalesce(previous_limit, preceding_limit) is null then 'initial'
            when credit_limit > coalesce(previous_limit, preceding_limit) then 'increase'
            when credit_limit < coalesce(previous_limit, preceding_limit) then 'decrease'
            else 'unchanged'
        end as change_direction,
        changed_by,
        change_reason,
        first_loaded_at as known_at,
        known_date
    from sequenced

)

select * from final
