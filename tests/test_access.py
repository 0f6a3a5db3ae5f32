"""Least-privilege roles over real connections: each role can do what it must and is refused what
it must not; decryption is admin-only and audited; the audit log is append-only."""

from __future__ import annotations

import uuid
from datetime import date

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from credit_dw import access, audit

DAY = date(2026, 9, 30)
# What the CRM and the ERP deliver about the people behind a customer (loaded by the real loader,
# which encrypts, blind-indexes and masks them).
LANDING_FILES = {
    "crm/contacts_20260930.csv": "contact_id,account_id,contact_name,title,mobile,email\n"
                                 "K1,A1,张伟,财务经理,13812345678,zhang.wei@example.com\n",
    "crm/accounts_20260930.csv": "account_id,account_name,owner_id\nA1,华信电子有限公司,O1\n",
    "crm/owners_20260930.csv": "owner_id,owner_name,email,team\nO1,李娜,li.na@example.com,华东\n",
    "erp/customers_20260930.csv": "customer_id,customer_name,payment_terms,credit_limit,currency,legal_rep_name,"
                                  "legal_rep_id_number,legal_rep_mobile\n"
                                  "KH000001,华信电子有限公司,NET30,100000.00,CNY,王芳,110101199003071233,"
                                  "+86 139 8765 4321\n",
}


@pytest.fixture
def warehouse_with_data(fresh_database_url, tmp_path):
    from ingestion.load import ingest

    for name, text in LANDING_FILES.items():
        source, file_name = name.split("/")
        path = tmp_path / source / DAY.isoformat() / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    summary = ingest(DAY, landing_dir=tmp_path, database_url=fresh_database_url, run_id="access-test")
    assert not summary.failed and all(f.rows_loaded == 1 for f in summary.files), summary.as_dict()
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("""
            create schema marts; create schema scoring; create schema dq;
            create table marts.fct_credit_exposure_daily (customer_id text, exposure numeric, credit_limit numeric);
            create table marts.customer_scores (customer_id text, grade int, pd numeric, points int);
            create table marts.fct_bank_receipts (bank_entry_id text, receipt_amount numeric, payer_account_hash text);
            create table marts.customer_source_xref (source_system text, source_record_id text, customer_id text);
            create table scoring.alerts (alert_id int);
            create table dq.validation_results (id int);
        """)
        conn.execute("insert into marts.fct_credit_exposure_daily values ('C1', 10, 100)")
        conn.execute("insert into marts.customer_scores values ('C1', 3, 0.012, 640)")
        conn.execute("insert into marts.fct_bank_receipts values ('B1', 5, 'h')")
        conn.execute("insert into marts.customer_source_xref values ('erp', 'KH000001', 'CU000001'), "
                     "('crm', 'A1', 'CU000001')")
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


RAW_INSERT = ("insert into raw.crm_owners (owner_id, _batch_id, _source_file, _source_line, _loaded_at) "
              "values ('O2', 1, 'owners_20260930.csv', 2, now())")


def test_each_role_can_what_it_must_and_nothing_more(login_as):
    loader = login_as("loader")
    assert allowed(loader, RAW_INSERT)
    assert not allowed(loader, "select * from marts.fct_credit_exposure_daily")

    transformer = login_as("transformer")
    assert allowed(transformer, "select * from raw.crm_contacts")
    assert allowed(transformer, "create table marts.new_mart (x int)")
    assert not allowed(transformer, RAW_INSERT)

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


def test_analysts_see_the_people_behind_a_customer_only_masked(login_as):
    analyst = login_as("analyst")
    rows = analyst.execute("""
        select customer_id, source_system, source_customer_id, contact_role, title, name_masked, phone_masked,
               email_masked, id_number_masked, source_table, source_key_column, source_key
        from masked.customer_contacts order by contact_role""").fetchall()
    assert rows == [
        ("CU000001", "crm", "A1", "account_owner", "华东", "李*", None, "l***@example.com", None,
         "raw.crm_owners", "owner_id", "O1"),
        ("CU000001", "crm", "A1", "contact", "财务经理", "张*", "138****5678", "z***@example.com", None,
         "raw.crm_contacts", "contact_id", "K1"),
        ("CU000001", "erp", "KH000001", "legal_representative", None, "王*", "139****4321", None,
         "110***********1233", "raw.erp_customers", "customer_id", "KH000001"),
    ]
    # no ciphertext, no blind index, no raw row: only the masks above
    assert not allowed(analyst, "select contact_name_encrypted from raw.crm_contacts")
    assert not allowed(analyst, "select mobile_hash from raw.crm_contacts")
    assert not allowed(analyst, "select legal_rep_id_number_masked from raw.erp_customers")
    assert not allowed(analyst, "select payer_account_hash from marts.fct_bank_receipts")
    assert allowed(analyst, "select bank_entry_id, receipt_amount from marts.fct_bank_receipts")
    columns = {c for (c,) in analyst.execute(
        "select column_name from information_schema.columns where table_schema = 'masked'")}
    assert columns and not {c for c in columns if c.endswith(("_encrypted", "_hash"))}

    bi_reader = login_as("bi_reader")
    assert not allowed(bi_reader, "select name_masked from masked.customer_contacts")
    assert not allowed(bi_reader, "select customer_id from masked.customer_contacts")
    assert not allowed(bi_reader, "select payer_account_hash from marts.fct_bank_receipts")


def test_masked_views_follow_the_latest_delivery_and_survive_reapplying(warehouse_with_data, tmp_path, login_as):
    from ingestion.load import ingest

    later = tmp_path / "later" / "crm" / "2026-10-07"
    later.mkdir(parents=True)
    (later / "contacts_20261007.csv").write_text(
        "contact_id,account_id,contact_name,title,mobile,email\nK1,A1,张伟,财务总监,13900001111,\n", encoding="utf-8")
    ingest(date(2026, 10, 7), landing_dir=tmp_path / "later", database_url=warehouse_with_data, run_id="later")
    access.apply(warehouse_with_data)
    analyst = login_as("analyst")
    assert analyst.execute("select title, phone_masked, email_masked from masked.customer_contacts "
                           "where contact_role = 'contact'").fetchall() == [("财务总监", "139****1111", None)]
    # and the audited reveal gives the value in force, not an older delivery's
    admin_url = make_url(warehouse_with_data).set(username=login_as("admin").info.user).render_as_string(
        hide_password=False)
    assert audit.reveal("raw.crm_contacts", "contact_id", "K1", "mobile", database_url=admin_url) == "13900001111"
