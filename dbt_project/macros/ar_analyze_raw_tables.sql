{#- Planner statistics for the raw tables the credit marts read, at the start of every dbt run.
    Ingestion COPYs rows in and autovacuum analyzes them later, if ever before the nightly build:
    without statistics the planner takes every staging view for 200 rows and joins them in nested
    loops (the AR ledger then took ten minutes on a small sandbox instead of a second). ANALYZE
    samples at most 30,000 rows per table, so this costs about a second at any scale; a table no
    row was written to since its last ANALYZE is skipped (the nightly's second dbt invocation,
    feeds that delivered nothing), which halves that second. -#}
{% macro ar_analyze_raw_tables() -%}
    {%- set tables = [
        'raw.erp_invoices', 'raw.erp_credit_notes', 'raw.erp_payments', 'raw.erp_write_offs',
        'raw.erp_sales_orders', 'raw.erp_credit_limits', 'raw.erp_customers', 'raw.erp_fx_rates',
        'raw.erp_open_items', 'raw.bank_statement_entries', 'raw.bureau_events',
        'raw.bureau_company_reports', 'raw.load_manifest', 'raw.quarantine', 'ops.stage_runs',
    ] -%}
    do $analyze$
    declare
        table_name text;
    begin
        foreach table_name in array array['{{ tables | join("', '") }}'] loop
            if to_regclass(table_name) is not null and exists (
                select from pg_stat_user_tables as stats
                where stats.relid = to_regclass(table_name)
                    and (stats.n_mod_since_analyze > 0
                        or coalesce(stats.last_analyze, stats.last_autoanalyze) is null)
            ) then
                execute 'analyze ' || table_name;
            end if;
        end loop;
    end
    $analyze$;
    -- the statistics must be visible to the models' own connections
    commit;
{%- endmacro %}
