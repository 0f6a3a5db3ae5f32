{% macro ar_without_nested_loops_hooks() %}
    {#- (pre-hook, post-hook) of a model planned without nested loops: hash and merge joins only,
        where a join has an equality (a lateral function call or a join on ranges alone stays a
        nested loop). For queries over chains of CTEs and views whose row estimates collapse to 1:
        the planner then joins two CTEs of thousands of rows, on an equality, by a nested loop that
        rescans one for each row of the other, which grows with the square of the data.
        - the credit profiles (customer_credit_profile, _history): on the small sandbox with 13
          months of history customer_credit_profile ran over 12 minutes, 10 s without;
        - the cash application's amount combinations (fct_bank_receipts): 0.7 of its 1.7 s on the
          small sandbox, 52 of its 58 s on the medium one, where it then runs 5.7 s.
        The results do not depend on the plan. The setting is reset so other nodes on the
        connection plan as usual. -#}
    {{ return(["set enable_nestloop = off", "reset enable_nestloop"]) }}
{% endmacro %}
