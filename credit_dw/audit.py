"""The append-only audit log, and the one audited way to read personal data in clear.

``audit.events`` takes inserts only: a trigger refuses updates, deletes and truncation, whoever
asks. Pipeline publications, policy and limit changes, alert acknowledgements and every decryption
are recorded with who (the database session user), when and what.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

from credit_dw import warehouse

AUDIT_DDL = """
create schema if not exists audit;
create table if not exists audit.events (
    event_id bigserial primary key,
    occurred_at timestamptz not null default now(),
    actor text not null default session_user,
    action text not null,
    object text,
    details jsonb
);
create or replace function audit.refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit.events is append-only: % refused', tg_op;
end $$;
do $$ begin
    if not exists (select from pg_trigger where tgname = 'audit_events_append_only') then
        create trigger audit_events_append_only before update or delete on audit.events
            for each row execute function audit.refuse_change();
        create trigger audit_events_no_truncate before truncate on audit.events
            for each statement execute function audit.refuse_change();
    end if;
end $$;
"""


class NotAllowed(PermissionError):
    """The connected database user may not do this."""


def ensure_audit_log(conn: psycopg.Connection) -> None:
    """Create the log when missing (only its owner may; other roles just append)."""
    if conn.execute("select to_regclass('audit.events') is not null").fetchone()[0]:
        return
    conn.execute("select pg_advisory_xact_lock(hashtext('audit.events'))")
    conn.execute(AUDIT_DDL)


def record(conn: psycopg.Connection, action: str, obj: str | None = None, details: dict[str, Any] | None = None):
    """Append one event in the caller's transaction (it stands or falls with the change it records)."""
    ensure_audit_log(conn)
    conn.execute(
        "insert into audit.events (action, object, details) values (%s, %s, %s)",
        (action, obj, json.dumps(details, default=str) if details is not None else None),
    )


def reveal(table: str, key_column: str, key_value: str, column: str, *, database_url: str | None = None) -> str:
    """The clear text of one personal-data value, for a member of the ``admin`` role only, and
    recorded in the audit log before it is shown."""
    from ingestion.pii import protector

    schema, _, name = table.rpartition(".")
    with warehouse.connect(database_url) as conn:
        allowed = conn.execute(
            "select exists (select from pg_roles where rolname = 'admin') "
            "and pg_has_role(current_user, 'admin', 'member')"
        ).fetchone()[0]
        if not allowed:
            raise NotAllowed(f"{conn.info.user} is not a member of the admin role: decryption refused")
        # Raw keeps every delivery of a record: the latest one is the value in force.
        has_lineage = conn.execute(
            "select count(*) = 2 from information_schema.columns where table_schema = %s and table_name = %s "
            "and column_name in ('_batch_id', '_source_line')", (schema or "raw", name)).fetchone()[0]
        row = conn.execute(
            sql.SQL("select {} from {} where {} = %s {} limit 1").format(
                sql.Identifier(f"{column}_encrypted"), sql.Identifier(schema or "raw", name),
                sql.Identifier(key_column),
                sql.SQL("order by _batch_id desc, _source_line desc" if has_lineage else ""),
            ),
            (key_value,),
        ).fetchone()
        if row is None or row[0] is None:
            raise KeyError(f"no {column} for {key_column} = {key_value} in {table}")
        record(conn, "decrypt", f"{table}.{column}", {"key_column": key_column, "key_value": key_value})
    return protector().decrypt(bytes(row[0]))
