{#- Aging bucket of an open item from its days past due (docs/domain.md): current (not past due),
    1-30, 31-60, 61-90, 91-180, 180+. Half-open ranges, so no day is in two buckets. -#}
{% macro ar_aging_bucket(days_past_due) -%}
    case
        when {{ days_past_due }} <= 0 then 'current'
        when {{ days_past_due }} <= 30 then '1-30'
        when {{ days_past_due }} <= 60 then '31-60'
        when {{ days_past_due }} <= 90 then '61-90'
        when {{ days_past_due }} <= 180 then '91-180'
        else '180+'
    end
{%- endmacro %}

{#- Sort order of the buckets, 0 (current) to 5 (180+). -#}
{% macro ar_aging_bucket_order(days_past_due) -%}
    case
        when {{ days_past_due }} <= 0 then 0
        when {{ days_past_due }} <= 30 then 1
        when {{ days_past_due }} <= 60 then 2
        when {{ days_past_due }} <= 90 then 3
        when {{ days_past_due }} <= 180 then 4
        else 5
    end
{%- endmacro %}

{#- The bucket labels, in order: for accepted_values tests and roll-rate pairs. -#}
{% macro ar_aging_buckets() -%}
    {{ return(['current', '1-30', '31-60', '61-90', '91-180', '180+']) }}
{%- endmacro %}
