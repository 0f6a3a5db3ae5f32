"""Least-privilege database roles, managed by code and idempotent (``credit-dw access apply``).

| role        | may                                                                   |
| ----------- | --------------------------------------------------------------------- |
| loader      | write the raw schema, nothing else                                    |
| transformer | read raw; write staging, build and published marts, mdm, scoring, dq  |
| analyst     | read published marts and scores; personal data only masked (masked.*) |
| bi_reader   | read published marts only: no raw, no personal data, grades not PDs   |
| steward     | read quality results, manifest and quarantine; work the match queue   |
| admin       | everything, including the audited decryption path                     |
| api         | the HTTP API: the columns it serves, alert moves, its tokens and log   |

Grants are re-applied after every publication, so tables that dbt recreates keep them. Column
privileges carry the finer rules: ``bi_reader`` gets every column of a published table except
PDs, points, blind indexes and masked personal data; ``analyst`` every column but ciphertext and
blind indexes.

Personal data reaches analysts only masked, through the views of the ``masked`` schema
(``masked.customer_contacts``: the people behind each customer, ``110***********1234``,
``138****5678``). The views run with their owner's rights, so analysts read the masks without any
right on ``raw``; ``bi_reader`` has no right on the schema. Clear text only through
``credit_dw.audit.reveal`` (admin, audited).
"""

from __future__ import annotations

from psycopg import sql

from credit_dw import warehouse
from credit_dw.audit import ensure_audit_log

MASKED_SCHEMA = "masked"
ROLES = ("loader", "transformer", "analyst", "bi_reader", "steward", "admin", "api")

# Schemas each role reads (R) or writes (W).
SCHEMA_ACCESS = {
    "loader": {"raw": "W"},
    "transformer": {"raw": "R", "staging": "W", "marts_build": "W", "marts": "W", "snapshots": "W", "mdm": "W",
                    "scoring": "W", "dq": "W", "ops": "W"},
    # intermediate: the documented function marts.ar_open_items_as_of reads it (no personal data there)
    "analyst": {"marts": "R", "intermediate": "R", "scoring": "R", MASKED_SCHEMA: "R"},
    "steward": {"dq": "R", "ops": "R"},
}
# Tables a role reads outside its schemas.
TABLE_READS = {
    "steward": ("raw.load_manifest", "raw.quarantine", "marts.customer_match_review_queue", "mdm.review_queue"),
}
# Columns bi_reader never sees: model outputs it must not have, and any trace of personal data.
BI_HIDDEN_COLUMN_PATTERN = r"(^pd$|_pd$|^pd_|^points$|_hash$|_masked$|_encrypted$)"
# Columns analysts do not see either: ciphertext and blind indexes (they read the masked views).
ANALYST_HIDDEN_COLUMN_PATTERN = r"(_encrypted|_hash)$"

# The HTTP API (api/) selects these columns (no PDs, points or personal data; "*": all), moves alerts
# (acknowledge, resolve) and appends to its request log.
API_COLUMN_READS = {
    "marts.fct_credit_exposure_daily": "as_of_date customer_id customer_name currency open_receivables "
                                       "overdue_amount open_orders unapplied_cash exposure credit_limit utilisation "
                                       "headroom is_over_limit",
    "marts.dim_customers": "customer_id customer_name uscc country_code city registration_status erp_customer_ids "
                           "is_erp_customer",
    "marts.customer_source_xref": "source_system source_record_id customer_id",
    "ops.publications": "run_id business_date published_at",
    "scoring.customer_scores": "as_of_date customer_id is_shadow grade",
    "scoring.limit_proposals": "as_of_date customer_id is_shadow currency current_limit proposed_limit change reason",
    "scoring.rule_hits": "as_of_date customer_id is_shadow rule_id rule_version rule_kind",
    "scoring.rule_evaluations": "as_of_date is_shadow rule_kind status",
    "scoring.alerts": "*",
    "api.tokens": "token_id name token_hash scopes expires_at revoked_at",
}
API_ALERT_UPDATES = "status acknowledged_by acknowledged_at acknowledgement_note resolved_by resolved_at resolution"


def apply(database_url: str | None = None) -> dict[str, int]:
    """Create the roles and (re)apply every grant. Safe to run any number of times."""
    url = database_url or warehouse.database_url()
    granted: dict[str, int] = {}
    with warehouse.connect(url) as conn:
        # One apply at a time (the publication and the API's start-up both run it): views are replaced.
        conn.execute("select pg_advisory_xact_lock(hashtext('credit_dw.access.apply'))")
        database = conn.info.dbname
        for role in ROLES:
            conn.execute(
                sql.SQL("do $$ begin if not exists (select from pg_roles where rolname = {}) then "
                        "create role {} nologin; end if; end $$").format(sql.Literal(role), sql.Identifier(role))
            )
            conn.execute(sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(database), sql.Identifier(role)))
        conn.execute(sql.SQL("grant all privileges on database {} to admin").format(sql.Identifier(database)))
        # Every role may append to the audit log; none may change it (a trigger refuses).
        ensure_audit_log(conn)
        conn.execute(f"grant usage on schema audit to {', '.join(ROLES)}")
        conn.execute(f"grant insert on audit.events to {', '.join(ROLES)}")
        conn.execute(f"grant usage on sequence audit.events_event_id_seq to {', '.join(ROLES)}")
        conn.execute("grant select on audit.events to admin, steward")
        create_masked_views(conn)
        schemas = {name for (name,) in conn.execute("select nspname from pg_namespace")}
        for role, access in SCHEMA_ACCESS.items():
            for schema, mode in access.items():
                if schema not in schemas:
                    continue
                granted[role] = granted.get(role, 0) + _grant_schema(conn, role, schema, mode)
        for role, tables in TABLE_READS.items():
            for table in tables:
                schema, name = table.split(".")
                if _exists(conn, schema, name):
                    conn.execute(sql.SQL("grant usage on schema {} to {}").format(
                        sql.Identifier(schema), sql.Identifier(role)))
                    conn.execute(sql.SQL("grant select on {} to {}").format(
                        sql.Identifier(schema, name), sql.Identifier(role)))
        for schema in schemas - {"pg_catalog", "information_schema", "pg_toast"}:
            if schema.startswith("pg_"):
                continue
            conn.execute(sql.SQL("grant all on schema {} to admin").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("grant all on all tables in schema {} to admin").format(sql.Identifier(schema)))
        if "marts" in schemas:
            granted["bi_reader"] = _grant_visible_columns(conn, "bi_reader", "marts", BI_HIDDEN_COLUMN_PATTERN)
        for schema in SCHEMA_ACCESS["analyst"].keys() & schemas:
            with_personal_traces = {table for (table,) in conn.execute(
                "select table_name from information_schema.columns where table_schema = %s and column_name ~ %s",
                (schema, ANALYST_HIDDEN_COLUMN_PATTERN))}
            if with_personal_traces:
                _grant_visible_columns(conn, "analyst", schema, ANALYST_HIDDEN_COLUMN_PATTERN, with_personal_traces)
        granted["api"] = _grant_api(conn)
    return granted


def _grant_api(conn) -> int:
    def present(table: str, wanted: str) -> list[str]:
        schema, name = table.split(".")
        columns = [c for (c,) in conn.execute("select column_name from information_schema.columns where "
                                              "table_schema = %s and table_name = %s", (schema, name))]
        return columns if wanted == "*" else [c for c in wanted.split() if c in columns]

    def columns_sql(columns: list[str]) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, columns))

    granted = 0
    for table, wanted in API_COLUMN_READS.items():
        if columns := present(table, wanted):
            schema, name = table.split(".")
            conn.execute(sql.SQL("grant usage on schema {} to api").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("grant select ({}) on {} to api").format(columns_sql(columns),
                                                                         sql.Identifier(schema, name)))
            granted += 1
    if columns := present("scoring.alerts", API_ALERT_UPDATES):
        conn.execute(sql.SQL("grant update ({}) on scoring.alerts to api").format(columns_sql(columns)))
    if _exists(conn, "api", "request_log"):
        conn.execute("grant insert on api.request_log to api")
        conn.execute("grant usage on sequence api.request_log_request_id_seq to api")
    return granted


def _exists(conn, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()[0]


def _grant_schema(conn, role: str, schema: str, mode: str) -> int:
    schema_id, role_id = sql.Identifier(schema), sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema_id, role_id))
    if mode == "W":
        conn.execute(sql.SQL("grant create on schema {} to {}").format(schema_id, role_id))
        conn.execute(sql.SQL("grant select, insert, update, delete, truncate on all tables in schema {} to {}")
                     .format(schema_id, role_id))
        conn.execute(sql.SQL("grant usage on all sequences in schema {} to {}").format(schema_id, role_id))
    else:
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(schema_id, role_id))
    conn.execute(sql.SQL("grant execute on all functions in schema {} to {}").format(schema_id, role_id))
    return conn.execute(
        "select count(*) from information_schema.tables where table_schema = %s", (schema,)
    ).fetchone()[0]


def _grant_visible_columns(conn, role: str, schema: str, hidden_pattern: str, only_tables=None) -> int:
    """Replace the role's select on tables of ``schema`` (all, or ``only_tables``) by select on
    their columns that do not match ``hidden_pattern``."""
    role_id = sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), role_id))
    visible: dict[str, list[str]] = {}
    for table, column in conn.execute(
        """select table_name, column_name from information_schema.columns
           where table_schema = %s and column_name !~ %s order by table_name, ordinal_position""",
        (schema, hidden_pattern),
    ):
        if only_tables is None or table in only_tables:
            visible.setdefault(table, []).append(column)
    for table, columns in visible.items():
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("revoke select on {} from {}").format(target, role_id))
        conn.execute(sql.SQL("grant select ({}) on {} to {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), target, role_id))
    return len(visible)


# The people behind each customer, as analysts may see them: one select per kind of person, each
# with the same columns. ``{crm_contacts}`` etc. stand for the latest delivery of that raw table.
# source_table/source_key_column/source_key name the row an admin can reveal (credit_dw.audit.reveal).
CONTACT_PARTS = {
    "contact": ("crm_contacts",), "legal_representative": ("erp_customers",),
    "account_owner": ("crm_accounts", "crm_owners"),
}
CONTACT_SELECTS = {
    "contact": """
        select 'crm' as source_system, account_id as source_customer_id, 'contact' as contact_role, title,
               contact_name_masked as name_masked, mobile_masked as phone_masked, email_masked,
               null::text as id_number_masked,
               'raw.crm_contacts' as source_table, 'contact_id' as source_key_column, contact_id as source_key,
               _loaded_at as loaded_at
        from {crm_contacts} as contacts""",
    "legal_representative": """
        select 'erp', customer_id, 'legal_representative', null::text,
               legal_rep_name_masked, legal_rep_mobile_masked, null::text, legal_rep_id_number_masked,
               'raw.erp_customers', 'customer_id', customer_id, _loaded_at
        from {erp_customers} as customers
        where coalesce(legal_rep_name_masked, legal_rep_mobile_masked, legal_rep_id_number_masked) is not null""",
    "account_owner": """
        select 'crm', accounts.account_id, 'account_owner', owners.team,
               owners.owner_name_masked, null::text, owners.email_masked, null::text,
               'raw.crm_owners', 'owner_id', owners.owner_id, owners._loaded_at
        from {crm_accounts} as accounts
        inner join {crm_owners} as owners on owners.owner_id = accounts.owner_id""",
}


def create_masked_views(conn) -> None:
    """(Re)create the ``masked`` schema's views from the raw tables there are. They read raw, not
    staging: dbt replaces its views with ``drop … cascade`` on every run, which would drop these."""
    from ingestion.feeds import FEEDS, LINEAGE_COLUMNS, RAW_SCHEMA

    keys = {feed.table_name: feed.key for feed in FEEDS}
    columns: dict[str, set[str]] = {}
    for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = %s", (RAW_SCHEMA,)):
        columns.setdefault(table, set()).add(column)
    # raw tables as the loader makes them (a table made by other hands is left out)
    present = {feed.table_name for feed in FEEDS
               if {name for c in feed.columns for name, _ in c.stored_columns} | set(LINEAGE_COLUMNS)
               <= columns.get(feed.table_name, set())}

    def latest_delivery(table: str) -> str:
        # as dbt's latest_delivery macro: raw keeps every delivery, the views one row per business key
        return (f"(select distinct on ({', '.join(keys[table])}) * from {RAW_SCHEMA}.{table} "
                f"order by {', '.join(keys[table])}, _batch_id desc, _source_line desc)")

    selects = [CONTACT_SELECTS[kind].format(**{table: latest_delivery(table) for table in tables})
               for kind, tables in CONTACT_PARTS.items() if set(tables) <= present]
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(MASKED_SCHEMA)))
    conn.execute(sql.SQL("drop view if exists {}").format(sql.Identifier(MASKED_SCHEMA, "customer_contacts")))
    if not selects:
        return
    if _exists(conn, "marts", "customer_source_xref"):
        customer_id = "xref.customer_id"
        link = ("left join marts.customer_source_xref as xref on xref.source_system = people.source_system "
                "and xref.source_record_id = people.source_customer_id")
    else:  # before the first customer master run
        customer_id, link = "null::text", ""
    conn.execute(f"""
        create view {MASKED_SCHEMA}.customer_contacts as
        with people as ({" union all ".join(selects)})
        select {customer_id} as customer_id, people.* from people {link}""")
    conn.execute(f"comment on view {MASKED_SCHEMA}.customer_contacts is "
                 "'The people behind each customer (contacts, legal representatives, account owners), "
                 "personal data masked. customer_id: golden record; source_customer_id: ERP customer or CRM account.'")
