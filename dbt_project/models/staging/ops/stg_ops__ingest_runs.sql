-- grain: one row per pipeline run that ran the ingest stage, with the business date it ran for
--
-- ops.stage_runs exists only once a pipeline run has happened (`credit-dw ingest` alone records
-- none): without it, this model is empty and load batches fall back to their folder's date.
{%- set stage_runs = source('ops', 'stage_runs') %}
{%- set stage_runs_exist = execute and adapter.get_relation(
        database=stage_runs.database, schema=stage_runs.schema, identifier=stage_runs.identifier) is not none %}
with

source as (

    {% if stage_runs_exist -%}
    select * from {{ stage_runs }}
    where stage = 'ingest'
    {%- else -%}
    select null::text as run_id, null::date as business_date, null::timestamptz as started_at
    where false
    {%- endif %}

),

final as (

    select
        run_id,
        business_date as run_business_date,
        started_at as run_started_at
    from source

)

select * from final
