-- grain: one row per customer and period during which one credit limit change was in force
--
-- A change is in force on D when it is valid from D or earlier, the warehouse knew it on D
-- (known_date <= D) and no other such change has a later valid_from. `in_force_from` is the
-- first day that holds, `in_force_to` the day the next change takes over (exclusive).
with

limit_changes as (

    select * from {{ ref('stg_erp__credit_limit_changes') }}

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

dated as (

    select
        limit_changes.customer_id,
        limit_changes.valid_from,
        limit_changes.credit_limit,
        limit_changes.credit_limit_currency::text as credit_limit_currency,
        limit_changes.first_loaded_at as known_at,
        load_batches.known_date as known_date,
        greatest(limit_changes.valid_from, load_batches.known_date) as effective_date
    from limit_changes
    inner join load_batches
        on limit_changes.first_batch_id = load_batches.batch_id

),

ordered as (

    select
        *,
        max(valid_from) over (
            partition by customer_id
            order by effective_date, valid_from
            rows between unbounded preceding and 1 preceding
        ) as earlier_max_valid_from
    from dated

),

taking_over as (

    -- a change known after a later-dated one never takes over
    select * from ordered
    where earlier_max_valid_from is null or valid_from > earlier_max_valid_from

),

final as (

    select
        customer_id,
        valid_from,
        credit_limit,
        credit_limit_currency,
        effective_date as in_force_from,
        lead(effective_date) over (partition by customer_id order by effective_date, valid_from) as in_force_to,
        known_at,
        known_date
    from taking_over

)

select * from final
