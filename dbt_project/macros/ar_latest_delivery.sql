{#- Like latest_delivery (one row per business key, from its latest delivery), plus when the
    warehouse first learned the key: `first_batch_id` and `first_loaded_at` of its earliest load.
    The marts' knowledge clock ("as known on date K") keys on the first delivery, so a document
    re-sent in a later delta does not vanish from what was known before.
    DISTINCT ON rather than a row_number() filter: the planner then estimates one row per key
    instead of a fraction of a percent of them, and joins the staging views by hash instead of
    re-running them in nested loops. -#}
{% macro ar_latest_delivery(relation, key_columns) -%}
    select distinct on ({{ key_columns | join(', ') }})
        *,
        min(_batch_id) over (partition by {{ key_columns | join(', ') }}) as first_batch_id,
        min(_loaded_at) over (partition by {{ key_columns | join(', ') }}) as first_loaded_at
    from {{ relation }}
    order by {{ key_columns | join(', ') }}, _batch_id desc, _source_line desc
{%- endmacro %}
