{#- Creates marts.ar_open_items_as_of(as_of_date date, known_on date default null): the open
    items as of any date, as known on any date (doc block `ar_open_items_as_of`), with the logic of
    fct_ar_open_items_snapshots (macro ar_open_items). Called from the project's on-run-end hook, so
    every dbt invocation (re)creates it. Function bodies are not checked at creation, so it can be
    created before the first build of the ledger it reads.

    It returns rows of the composite type marts.ar_open_item (a RETURNS TABLE could not name a
    column as_of_date: its output columns would clash with the parameter of that name). -#}
{% macro ar_create_open_items_function() -%}
    {%- set ledger = api.Relation.create(
        database=target.database, schema='intermediate', identifier='int_ar_ledger_lines_unioned') -%}
    set check_function_bodies = off;
    create schema if not exists marts;
    drop function if exists marts.ar_open_items_as_of(date, date);
    drop type if exists marts.ar_open_item;
    create type marts.ar_open_item as (
        as_of_date date,
        known_on_date date,
        invoice_id text,
        customer_id text,
        currency text,
        invoice_date date,
        due_date date,
        invoice_amount numeric(18, 2),
        open_amount numeric(18, 2),
        days_past_due integer,
        known_at timestamptz,
        aging_bucket text,
        aging_bucket_order integer
    );
    comment on type marts.ar_open_item is 'A row of marts.ar_open_items_as_of(): one open invoice as of a date.';
    create function marts.ar_open_items_as_of(as_of_date date, known_on date default null)
    returns setof marts.ar_open_item
    language sql
    stable
    as $function$
        with as_of_dates as (
            select $1 as as_of_date, $2 as known_on_date
        )
        select
            open_items.as_of_date,
            open_items.known_on_date,
            open_items.invoice_id,
            open_items.customer_id,
            open_items.currency::text,
            open_items.invoice_date,
            open_items.due_date,
            open_items.invoice_amount,
            open_items.open_amount,
            open_items.days_past_due,
            open_items.known_at,
            open_items.aging_bucket,
            open_items.aging_bucket_order
        from ({{ ar_open_items(ledger, 'as_of_dates') }}) as open_items
        order by open_items.customer_id, open_items.invoice_id
    $function$;
    comment on function marts.ar_open_items_as_of(date, date) is
        'Open AR items as of a business date (invoices dated on or before it, less credit notes, payments and '
        'write-offs dated on or before it), each with open amount, days past due and aging bucket by due date. '
        'known_on: only what the warehouse had loaded by the nightly run of that business date (null: everything '
        'loaded). Same logic as marts.fct_ar_open_items_snapshots; created by dbt on every run.';
    reset check_function_bodies;
{%- endmacro %}
