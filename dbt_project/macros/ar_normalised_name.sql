{#- A company name reduced for matching a bank payer to the customer master: lower case, no
    spaces, full-width brackets and punctuation as half-width. -#}
{% macro ar_normalised_name(name) -%}
    nullif(
        regexp_replace(
            translate(lower(coalesce({{ name }}, '')), '（）．，　', '().,'),
            '[[:space:]]', '', 'g'
        ),
        ''
    )
{%- endmacro %}
