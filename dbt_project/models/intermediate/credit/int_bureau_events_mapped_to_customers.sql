-- grain: one row per bureau event and ERP customer it concerns
--
-- Bureau events are keyed by the bureau's subject id and the USCC; until the customer master
-- lands, a customer is the ERP customer with the same USCC (the subject's USCC from its company
-- reports when the event carries none).
with

events as (

    select * from {{ ref('stg_bureau__events') }}

),

reports as (

    select * from {{ ref('stg_bureau__company_reports') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}
    where uscc is not null

),

load_batches as (

    select * from {{ ref('int_load_batches_dated') }}

),

subject_usccs as (

    select distinct on (subject_id) subject_id, uscc
    from reports
    where uscc is not null
    order by subject_id, report_date desc

),

final as (

    select
        events.event_id,
        customers.customer_id,
        events.subject_id,
        coalesce(events.uscc, subject_usccs.uscc) as uscc,
        events.event_date,
        events.event_type,
        events.event_type in ('deregistration', 'revocation', 'bankruptcy') as is_default_event,
        events.event_amount,
        events.first_loaded_at as known_at,
        load_batches.known_date as known_date
    from events
    left join subject_usccs
        on events.subject_id = subject_usccs.subject_id
    inner join customers
        on coalesce(events.uscc, subject_usccs.uscc) = customers.uscc
    inner join load_batches
        on events.first_batch_id = load_batches.batch_id

)

select * from final
