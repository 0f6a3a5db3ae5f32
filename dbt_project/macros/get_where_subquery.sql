{#- Data tests of the date-partitioned marts (fct_credit_exposure_daily, fct_ar_open_items_snapshots,
    customer_credit_profile_history) check the dates the run built, not the whole history again:
    their `where` config says `__dates_built__`, replaced here, when the test runs, by
    `as_of_date >= <first date the run built>` — the run's as-of date, or the earliest date a
    re-delivery loaded by it restated (macro ar_rebuild_from_date: evaluated after the model ran,
    its "last date built" is the as-of date) — and by `true` in a full refresh, which checks every
    date. Dates built by earlier runs were tested by those runs, and incremental runs rewrite only
    their dates (delete+insert on the mart's key).
    Data tests of the staging views over raw deliveries (dbt_project.yml: `__batches_loaded__`)
    check, in a nightly run, the rows from the load batches that run loaded: `batch_id >=` the
    run's first batch (var `tests_from_batch`, which credit_dw.dbt.build passes for a pipeline
    run). Rows of earlier batches were tested by the runs that loaded them; a full refresh, or a run
    that names no batch (by hand, nothing loaded), tests every row.
    Otherwise dbt's own get_where_subquery. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__dates_built__' in where -%}
        {#- from the graph, not ref(): the test itself does not depend on the load batches -#}
        {%- set load_batches = graph.nodes['model.credit_dw.int_load_batches_dated'].relation_name -%}
        {%- set first_date_built = ar_rebuild_from_date('as_of_date', relation, load_batches) -%}
        {%- set dates_built = 'true' if flags.FULL_REFRESH else 'as_of_date >= (' ~ first_date_built ~ ')' -%}
        {%- set where = where | replace('__dates_built__', dates_built) -%}
    {%- endif -%}
    {%- if '__batches_loaded__' in where -%}
        {%- set first_batch = var('tests_from_batch', none) -%}
        {%- set batches_loaded = 'true' if flags.FULL_REFRESH or first_batch is none
                                 else 'batch_id >= ' ~ (first_batch | int) -%}
        {%- set where = where | replace('__batches_loaded__', batches_loaded) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
