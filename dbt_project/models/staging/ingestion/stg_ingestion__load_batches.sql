-- grain: one row per load batch (landing file) whose rows are in raw (loaded) or were replaced by
-- a re-delivery of the same extract (superseded); duplicates and failed files carry no rows
with

source as (

    select * from {{ source('ingestion', 'load_manifest') }}
    where status in ('loaded', 'superseded')

),

final as (

    select
        batch_id,
        run_id,
        source as source_system,
        status as load_status,
        feed,
        business_date as loaded_for_date,
        path as landing_path,
        extract as extract_name,
        delivery as delivery_number,
        rows_read,
        rows_loaded,
        rows_quarantined,
        -- columns the feed declares that the file's header did not have (schema drift)
        coalesce(
            array(select jsonb_array_elements_text(schema_drift -> 'missing')),
            array[]::text[]
        ) as missing_columns,
        started_at as load_started_at,
        finished_at as load_finished_at
    from source

)

select * from final
