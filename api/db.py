"""The ``api`` schema (tokens, request log, webhook endpoints, deliveries, dead letters) and the
connection pool the service reads through.

The service works as the least-privileged ``api`` database role (``credit_dw.access``): every pooled
connection runs ``SET ROLE api`` when it is opened, so a login user with more rights (the warehouse
owner on a laptop) still only reads what that role may. A dedicated login member of ``api`` works
the same way. The schema's DDL is run by the owner (CLI commands, the pipeline, the server's start),
never by the role.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from credit_dw import warehouse

log = logging.getLogger(__name__)

API_ROLE = "api"

API_DDL = """
create schema if not exists api;
create table if not exists api.tokens (
    token_id bigserial primary key,
    name text not null check (length(name) between 1 and 100),
    token_prefix text not null,
    token_hash bytea not null unique,
    scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['read-status', 'manage-alerts']),
    created_at timestamptz not null default now(),
    created_by text not null default session_user,
    expires_at timestamptz,
    revoked_at timestamptz
);
create table if not exists api.request_log (
    request_id bigserial primary key,
    requested_at timestamptz not null default now(),
    token_id bigint,
    client text,
    method text not null,
    path text not null,
    query text,
    status integer not null,
    duration_ms numeric(12, 3),
    remote_addr text
);
create index if not exists request_log_token on api.request_log (token_id, requested_at);
create table if not exists api.webhook_endpoints (
    endpoint_id bigserial primary key,
    url text not null check (url ~ '^https?://'),
    secret_encrypted bytea not null,
    active boolean not null default true,
    created_at timestamptz not null default now(),
    created_by text not null default session_user,
    removed_at timestamptz
);
create unique index if not exists webhook_endpoints_active_url on api.webhook_endpoints (url) where active;
create table if not exists api.webhook_deliveries (
    endpoint_id bigint not null references api.webhook_endpoints,
    alert_id bigint not null,
    delivery_id uuid not null,
    as_of_date date not null,
    status text not null check (status in ('delivered', 'dead_letter')),
    attempts integer not null,
    response_status integer,
    finished_at timestamptz not null default now(),
    primary key (endpoint_id, alert_id)
);
create table if not exists api.webhook_dead_letters (
    dead_letter_id bigserial primary key,
    delivery_id uuid not null,
    endpoint_id bigint not null references api.webhook_endpoints,
    url text not null,
    event text not null,
    body text not null,
    attempts integer not null,
    last_status integer,
    last_error text,
    failed_at timestamptz not null default now(),
    replayed_at timestamptz
);
"""
# Created last by API_DDL: when it exists, so does everything else.
_LAST_TABLE = "api.webhook_dead_letters"


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the api schema when missing (the owner's job; a role that only uses it never runs DDL)."""
    if conn.execute("select to_regclass(%s) is not null", (_LAST_TABLE,)).fetchone()[0]:
        return
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('api schema'))")
        conn.execute(API_DDL)


def prepare(database_url: str) -> str | None:
    """Before serving: the api schema, the roles and their grants (``credit_dw.access.apply``), and the
    login's membership in ``api`` (SET ROLE needs it). Needs the owner's rights; a login that is only a
    member of ``api`` skips it (the owner has done it). Returns why it was skipped, or None."""
    from credit_dw import access

    reason = None
    try:
        with warehouse.connect(database_url) as conn:
            ensure_schema(conn)
        access.apply(database_url)
    except psycopg.errors.InsufficientPrivilege as error:
        reason = f"schema and grants not (re)applied: {str(error).splitlines()[0]}"
        log.warning(reason)
    try:
        with warehouse.connect(database_url) as conn:
            if conn.execute("select exists (select from pg_roles where rolname = %s) "
                            "and not pg_has_role(current_user, %s, 'member')", (API_ROLE, API_ROLE)).fetchone()[0]:
                conn.execute(sql.SQL("grant {} to current_user").format(sql.Identifier(API_ROLE)))
    except psycopg.errors.InsufficientPrivilege as error:
        log.warning("could not make the login a member of %s: %s", API_ROLE, str(error).splitlines()[0])
    return reason


def role_problem(database_url: str, role: str = API_ROLE) -> str | None:
    """Why connections could not work as ``role`` (None: they can)."""
    try:
        with warehouse.connect(database_url) as conn:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            conn.execute("select 1 from api.tokens limit 1")
    except psycopg.Error as error:
        return (f"cannot work as the {role!r} database role ({str(error).strip().splitlines()[0]}): as the warehouse "
                f"owner, run `credit-dw access apply` (it needs CREATEROLE) and `grant {role} to <this login>`")
    return None


def _session_settings(role: str | None, statement_timeout_ms: int) -> list[sql.Composable]:
    statements: list[sql.Composable] = []
    if role:
        statements.append(sql.SQL("set role {}").format(sql.Identifier(role)))
    statements.append(sql.SQL("set statement_timeout = {}").format(sql.Literal(statement_timeout_ms)))
    # The request log's rows need no flush to disk before the answer goes out (a crash of the server may
    # lose the last ~0.6 s of them, never corrupt anything); alert moves set it back on for their change.
    statements.append(sql.SQL("set synchronous_commit = off"))
    return statements


def open_pool(database_url: str, *, role: str | None = API_ROLE, min_size: int = 1, max_size: int = 4,
              statement_timeout_ms: int = 5000):
    """A pool of autocommit connections working as ``role``, with a statement timeout and asynchronous
    commit: for work done in threads (loading a publication, alert moves)."""
    from psycopg_pool import ConnectionPool

    def configure(conn: psycopg.Connection) -> None:
        for statement in _session_settings(role, statement_timeout_ms):
            conn.execute(statement)

    pool = ConnectionPool(
        warehouse.libpq_url(database_url), min_size=min_size, max_size=max_size, open=False, timeout=5.0,
        kwargs={"autocommit": True, "application_name": "credit-dw-api"}, configure=configure,
        name="credit-dw-api-sync",
    )
    pool.open(wait=False)
    return pool


def async_pool(database_url: str, *, role: str | None = API_ROLE, min_size: int = 2, max_size: int = 10,
               statement_timeout_ms: int = 5000):
    """The same, for the event loop (requests); opened by the application's startup."""
    from psycopg_pool import AsyncConnectionPool

    async def configure(conn: psycopg.AsyncConnection) -> None:
        for statement in _session_settings(role, statement_timeout_ms):
            await conn.execute(statement)

    return AsyncConnectionPool(
        warehouse.libpq_url(database_url), min_size=min_size, max_size=max_size, open=False, timeout=5.0,
        kwargs={"autocommit": True, "application_name": "credit-dw-api"}, configure=configure,
        name="credit-dw-api",
    )
