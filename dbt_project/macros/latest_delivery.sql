{#- Rows of a raw table reduced to the latest delivery of each business key: raw keeps every
    delivery (and a delta's duplicate lines); staging keeps one row per key. -#}
{% macro latest_delivery(relation, key_columns) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by _batch_id desc, _source_line desc
            ) as delivery_rank
        from {{ relation }}
    ) as ranked
    where delivery_rank = 1
{%- endmacro %}
