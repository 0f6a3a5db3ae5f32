-- grain: one row per load batch whose rows are in raw, with the warehouse's knowledge date
--
-- known_date (doc `known_date`): the business date of the nightly run that loaded the batch (a
-- file arriving late is known from the run that finally loaded it), or the landing folder's date
-- when no pipeline run recorded the load (`credit-dw ingest` by hand, backfills). A re-delivery
-- that replaced an earlier delivery of the same extract takes that delivery's knowledge date and
-- names the date it restates from: raw keeps only the replacement, so history is restated, and
-- incremental marts rebuild their dates from `restates_from_date` (macro ar_rebuild_from_date).
with

all_load_records as (

    select * from {{ ref('stg_ingestion__load_batches') }}

),

load_batches as (

    select * from all_load_records
    where load_status = 'loaded'

),

ingest_runs as (

    select * from {{ ref('stg_ops__ingest_runs') }}

),

record_dates as (

    select
        all_load_records.batch_id,
        all_load_records.extract_name,
        coalesce(ingest_runs.run_business_date, all_load_records.loaded_for_date) as load_run_date
    from all_load_records
    left join ingest_runs
        on all_load_records.run_id = ingest_runs.run_id

),

first_delivery as (

    select
        extract_name,
        min(batch_id) as first_batch_id
    from record_dates
    group by extract_name

),

final as (

    select
        load_batches.batch_id,
        load_batches.feed,
        load_batches.loaded_for_date,
        this_load.load_run_date,
        original_load.load_run_date as known_date,
        load_batches.batch_id <> first_delivery.first_batch_id as is_redelivery,
        case
            when load_batches.batch_id <> first_delivery.first_batch_id then original_load.load_run_date
        end as restates_from_date,
        load_batches.load_finished_at
    from load_batches
    inner join record_dates as this_load
        on load_batches.batch_id = this_load.batch_id
    inner join first_delivery
        on this_load.extract_name = first_delivery.extract_name
    inner join record_dates as original_load
        on first_delivery.first_batch_id = original_load.batch_id

)

select * from final
