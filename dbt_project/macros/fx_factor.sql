{#- Factor turning an amount in `from_currency` into `to_currency`, through CNY rates joined as
    `from_fx` and `to_fx` (CNY per unit). Same currency: 1; CNY needs no rate. -#}
{% macro fx_factor(from_currency, to_currency) -%}
    case
        when {{ from_currency }} = {{ to_currency }} then 1
        else
            (case when {{ from_currency }} = 'CNY' then 1 else from_fx.cny_per_unit end)
            / nullif(case when {{ to_currency }} = 'CNY' then 1 else to_fx.cny_per_unit end, 0)
    end
{%- endmacro %}


{#- The sum of each amount column converted by one factor column (fx_factor computed once per
    row), named after the amount: `sum(open_orders * fx_factor) as open_orders, …`. -#}
{% macro fx_converted_sums(amounts, factor) -%}
    {%- for amount in amounts -%}
        sum({{ amount }} * {{ factor }}) as {{ amount }}{{ ",\n        " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
