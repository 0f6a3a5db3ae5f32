{#- A table of the `mdm` schema, which the Python step `mdm.resolve.resolve_entities` writes between
    `dbt build --select staging` and the rest of dbt. When that step has not run yet in this
    database, an empty relation with the same columns stands in, so that the customer marts build
    (empty) instead of failing the whole project. `columns`: name -> SQL type, in output order. -#}
{% macro mdm_source(table_name, columns) -%}
    {%- set relation = source('mdm', table_name) -%}
    {%- set existing = none -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if existing is not none %}
    select {{ columns.keys() | join(', ') }} from {{ relation }}
    {%- else %}
    select
        {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    where false
    {%- endif %}
{%- endmacro %}
