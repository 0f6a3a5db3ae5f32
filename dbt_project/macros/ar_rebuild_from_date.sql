{#- The first business date an incremental run of a date-partitioned mart must (re)build: the day
    after the last date built, or the as-of date when re-running an earlier date, or earlier still
    when a re-delivery loaded since the last date built restated history (a corrected file replaces
    its first delivery in raw, so dates known since then are rebuilt: the lookback for late data).
    Rows of every date are "as known on that date", so rebuilding them gives what a full refresh
    gives. `relation`: the mart (default: the model being built); `load_batches`: the relation of
    int_load_batches_dated (default: its ref, for a model that depends on it). -#}
{% macro ar_rebuild_from_date(date_column='as_of_date', relation=none, load_batches=none) -%}
    {%- set relation = relation if relation is not none else this -%}
    {%- set load_batches = load_batches if load_batches is not none else ref('int_load_batches_dated') -%}
    least(
        {{ as_of_date() }},
        (select coalesce(max({{ date_column }}) + 1, {{ as_of_date() }}) from {{ relation }}),
        (
            select min(restates_from_date)
            from {{ load_batches }}
            where is_redelivery
                and load_run_date >= (select coalesce(max({{ date_column }}), date '0001-01-01') from {{ relation }})
        )
    )
{%- endmacro %}


{#- ar_rebuild_from_date evaluated when the model runs, as a date literal: the planner then knows
    which dates the run builds (a subquery left it guessing, and it chose nested loops). -#}
{% macro ar_rebuild_from_date_literal(date_column='as_of_date') -%}
    {%- if execute -%}
        {%- set result = run_query('select (' ~ ar_rebuild_from_date(date_column) ~ ')::text') -%}
        date '{{ result.columns[0].values()[0] }}'
    {%- else -%}
        {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}
