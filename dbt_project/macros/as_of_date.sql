{#- The business date being built, as a SQL date literal. -#}
{% macro as_of_date() -%}
    date '{{ var("as_of_date") }}'
{%- endmacro %}
