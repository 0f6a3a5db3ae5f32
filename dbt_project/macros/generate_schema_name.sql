{#- Use the configured schema name as is (staging, marts) instead of dbt's "<target>_<custom>":
    the schemas are a published contract for analysts and BI tools.
    The nightly pipeline builds marts into a private schema (var marts_schema, e.g. marts_build)
    and publishes them into `marts` only when every blocking check passed; a build without the
    var (development, tests) writes `marts` directly. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name == 'marts' -%}
        {{ var('marts_schema', 'marts') }}
    {%- else -%}
        {{ custom_schema_name if custom_schema_name is not none else target.schema }}
    {%- endif -%}
{%- endmacro %}
