"""Least-privilege roles over real connections: each role can do what it must and is refused what
it must not; decryption is admin-only and audited; the audit log is append-only."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from credit_dw import access, audit
from ingestion.pii import protector


@pytest.fixture
def warehouse_with_data(fresh_database_url):
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("""
            create schema raw; create schema marts; create schema scoring; create schema dq;
            create table raw.crm_contacts (contact_id text, contact_name_encrypted bytea, contact_name_hash text,
                                           contact_name_masked text);
            create table raw.load_manifest (batch_id int, path text);
            create table raw.quarantine (batch_id int, reason text);
            create table marts.fct_credit_exposure_daily (customer_id text, exposure numeric, credit_limit numeric);
            create table marts.customer_scores (customer_id text, grade int, pd numeric, points int);
            create table scoring.alerts (alert_id int);
            create table dq.validation_results (id int);
        """)
        conn.execute("insert into raw.crm_contacts values ('K1', %s, 'h', '张*')", (protector().encrypt("张伟"),))
        conn.execute("insert into marts.fct_credit_exposure_daily values ('C1', 10, 100)")
        conn.execute("insert into marts.customer_scores values ('C1', 3, 0.012, 640)")
    access.apply(fresh_database_url)
    access.apply(fresh_database_url)  # idempotent
    return fresh_database_url


@pytest.fixture
def login_as(warehouse_with_data):
    """A real connection as a new login user that is a member of the given role."""
    created = []
    admin = psycopg.connect(warehouse_with_data, autocommit=True)

    def connect(role: str) -> psycopg.Connection:
        user = f"cdw_{role}_{uuid.uuid4().hex[:6]}"
        admin.execute(sql.SQL("create role {} login in role {}").format(sql.Identifier(user), sql.Identifier(role)))
        created.append(user)
        url = make_url(warehouse_with_data).set(username=user).render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True)

    yield connect
    for user in created:
        admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(user)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(user)))
    admin.close()


def allowed(conn: psycopg.Connection, statement: str) -> bool:
    try:
        conn.execute(statement)
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def test_each_role_can_what_it_must_and_nothing_more(login_as):
    loader = login_as("loader")
    assert allowed(loader, "insert into raw.load_manifest values (1, 'x')")
    assert not allowed(loader, "select * from marts.fct_credit_exposure_daily")

    transformer = login_as("transformer")
    assert allowed(transformer, "select * from raw.crm_contacts")
    assert allowed(transformer, "create table marts.new_mart (x int)")
    assert not allowed(transformer, "insert into raw.load_manifest values (2, 'y')")

    analyst = login_as("analyst")
    assert allowed(analyst, "select exposure from marts.fct_credit_exposure_daily")
    assert allowed(analyst, "select pd from marts.customer_scores")
    assert not allowed(analyst, "select * from raw.crm_contacts")

    bi_reader = login_as("bi_reader")
    assert allowed(bi_reader, "select customer_id, grade from marts.customer_scores")
    assert not allowed(bi_reader, "select pd from marts.customer_scores"), "bi_reader sees grades, not PDs"
    assert not allowed(bi_reader, "select points from marts.customer_scores")
    assert not allowed(bi_reader, "select * from raw.load_manifest")
    assert not allowed(bi_reader, "select * from scoring.alerts")

    steward = login_as("steward")
    assert allowed(steward, "select * from dq.validation_results")
    assert allowed(steward, "select * from raw.quarantine")
    assert not allowed(steward, "select * from raw.crm_contacts")


def test_decryption_is_admin_only_and_audited(warehouse_with_data, login_as):
    analyst_user = login_as("analyst").info.user
    analyst_url = make_url(warehouse_with_data).set(username=analyst_user).render_as_string(hide_password=False)
    with pytest.raises(audit.NotAllowed):
        audit.reveal("raw.crm_contacts", "contact_id", "K1", "contact_name", database_url=analyst_url)

    admin_user = login_as("admin").info.user
    admin_url = make_url(warehouse_with_data).set(username=admin_user).render_as_string(hide_password=False)
    assert audit.reveal("raw.crm_contacts", "contact_id", "K1", "contact_name", database_url=admin_url) == "张伟"

    with psycopg.connect(warehouse_with_data) as conn:
        actor, action, obj, details = conn.execute(
            "select actor, action, object, details from audit.events order by event_id desc limit 1"
        ).fetchone()
    assert (actor, action, obj) == (admin_user, "decrypt", "raw.crm_contacts.contact_name")
    assert details == {"key_column": "contact_id", "key_value": "K1"}


def test_the_audit_log_is_append_only(warehouse_with_data):
    with psycopg.connect(warehouse_with_data, autocommit=True) as conn:
        audit.record(conn, "limit_change", "C1", {"old": 100, "new": 200})
        for statement in ("update audit.events set action = 'x'", "delete from audit.events",
                          "truncate audit.events"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
