"""Data-quality suites against a real PostgreSQL: clean invoices pass and are recorded, dirty ones
fail the gate with readable reasons, and a Unix-socket URL reaches the same database."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from expectations.suites import ERP_INVOICES, SUITES, Suite
from expectations.validate import (
    QualityGateFailed,
    ValidationOutcome,
    assert_passed,
    validate_table,
)

INVOICE_COLUMNS = """
    invoice_id text, customer_id text, invoice_date date, due_date date, currency text,
    amount numeric(18,2), _batch_id bigint, _source_file text, _source_line integer,
    _loaded_at timestamptz
"""

# (invoice_id, customer_id, invoice_date, due_date, currency, amount, _batch_id)
CLEAN_INVOICES = [
    ("INV-1", "C-1", date(2026, 10, 1), date(2026, 10, 31), "CNY", Decimal("1200.00"), 1),
    ("INV-2", "C-1", date(2026, 10, 2), date(2026, 10, 2), "USD", Decimal("0.00"), 1),
    ("INV-3", "C-2", date(2026, 10, 3), date(2026, 11, 2), "EUR", Decimal("99.50"), 1),
    # INV-1 again in a later delivery: raw keeps both, staging takes the latest.
    ("INV-1", "C-1", date(2026, 10, 1), date(2026, 11, 15), "CNY", Decimal("1150.00"), 2),
]
DIRTY_INVOICES = [
    ("INV-1", "C-3", date(2026, 10, 4), date(2026, 11, 3), "CNY", Decimal("10.00"), 1),
    ("INV-4", "C-3", date(2026, 10, 5), date(2026, 9, 30), "CNY", Decimal("10.00"), 1),
    ("INV-5", "C-3", date(2026, 10, 6), date(2026, 11, 5), "XXY", Decimal("10.00"), 1),
]


@pytest.fixture
def invoices_suite(warehouse_url: str) -> Suite:
    """The invoice suite pointed at a fresh, empty copy of raw.erp_invoices for this test alone
    (a table of its own, so tests can run in parallel workers on the same database)."""
    suite = dataclasses.replace(ERP_INVOICES, table=f"erp_invoices_{uuid.uuid4().hex[:8]}")
    table = sql.Identifier(suite.schema, suite.table)
    with psycopg.connect(warehouse_url) as conn:
        # parallel workers would race on creating the shared schema
        conn.execute("select pg_advisory_xact_lock(hashtext('test_expectations'))")
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(suite.schema)))
        conn.execute(sql.SQL("drop table if exists {}").format(table))
        conn.execute(sql.SQL("create table {} ({})").format(table, sql.SQL(INVOICE_COLUMNS)))
    return suite


def insert_invoices(database_url: str, suite: Suite, rows: list[tuple]) -> None:
    with psycopg.connect(database_url) as conn:
        conn.cursor().executemany(
            sql.SQL(
                """insert into {} (invoice_id, customer_id, invoice_date, due_date, currency,
                   amount, _batch_id, _source_file, _source_line, _loaded_at)
                   values (%s, %s, %s, %s, %s, %s, %s, 'invoices_20261001.csv', %s, now())"""
            ).format(sql.Identifier(suite.schema, suite.table)),
            [(*row, line) for line, row in enumerate(rows, start=2)],
        )


def stored_results(database_url: str, run_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            """select suite_name, table_name, blocking, success, evaluated, failed, failures,
                      result ->> 'success'
               from dq.validation_results where run_id = %s""",
            (run_id,),
        ).fetchall()


def test_clean_invoices_pass_and_are_recorded(warehouse_url, invoices_suite, capfd):
    insert_invoices(warehouse_url, invoices_suite, CLEAN_INVOICES)
    run_id = f"test-{uuid.uuid4()}"

    outcome = validate_table(warehouse_url, invoices_suite, run_id=run_id)

    assert outcome.success, outcome.failures
    assert (outcome.evaluated, outcome.failed, outcome.failures) == (
        len(invoices_suite.expectations), 0, [],
    )
    assert outcome.table == f"raw.{invoices_suite.table}"
    assert stored_results(warehouse_url, run_id) == [
        (
            invoices_suite.name, outcome.table, True, True, outcome.evaluated, 0, [], "true",
        )
    ]
    assert_passed([outcome])
    assert "Calculating Metrics" not in capfd.readouterr().err, "GX progress bars are not off"


def test_dirty_invoices_fail_the_gate_with_named_expectations(warehouse_url, invoices_suite):
    insert_invoices(warehouse_url, invoices_suite, CLEAN_INVOICES + DIRTY_INVOICES)
    run_id = f"test-{uuid.uuid4()}"

    outcome = validate_table(warehouse_url, invoices_suite, run_id=run_id)

    assert not outcome.success
    assert outcome.failures == [
        "expect_compound_columns_to_be_unique(invoice_id, _batch_id): 2 unexpected values, "
        "e.g. [['INV-1', 1]]",
        "expect_column_pair_values_a_to_be_greater_than_b(due_date, invoice_date): "
        "1 unexpected value, e.g. [['2026-09-30', '2026-10-05']]",
        "expect_column_values_to_be_in_set(currency): 1 unexpected value, e.g. ['XXY']",
    ]
    assert outcome.failed == 3
    [stored] = stored_results(warehouse_url, run_id)
    assert stored[3:7] == (False, outcome.evaluated, 3, outcome.failures)
    with pytest.raises(QualityGateFailed) as raised:
        assert_passed([outcome])
    message = str(raised.value)
    assert outcome.table in message
    assert all(failure in message for failure in outcome.failures)


def test_unix_socket_url_reaches_the_warehouse(warehouse_url, invoices_suite):
    insert_invoices(warehouse_url, invoices_suite, CLEAN_INVOICES)
    database = make_url(warehouse_url).database
    socket_url = f"postgresql://postgres@/{database}?host=/var/run/postgresql"

    outcome = validate_table(socket_url, invoices_suite, run_id=f"test-{uuid.uuid4()}")

    assert outcome.success, outcome.failures


def test_missing_column_is_reported_not_raised(warehouse_url, invoices_suite):
    insert_invoices(warehouse_url, invoices_suite, CLEAN_INVOICES)
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(
            sql.SQL("alter table {} drop column amount").format(
                sql.Identifier(invoices_suite.schema, invoices_suite.table)
            )
        )

    outcome = validate_table(warehouse_url, invoices_suite, run_id=f"test-{uuid.uuid4()}")

    assert not outcome.success
    assert outcome.failures[0].startswith("expect_table_columns_to_match_set: missing ['amount']")
    assert any(
        failure.startswith("expect_column_values_to_not_be_null(amount): error:")
        for failure in outcome.failures
    )


def test_non_blocking_failures_do_not_stop_the_pipeline():
    failed = ValidationOutcome(
        suite_name="marts_example", table="marts.example", blocking=False, success=False,
        evaluated=1, failed=1, failures=["expect_table_row_count_to_be_between: observed 0"],
        run_id="test",
    )
    assert_passed([failed])
    with pytest.raises(QualityGateFailed, match="marts.example"):
        assert_passed([dataclasses.replace(failed, blocking=True)])


@pytest.mark.parametrize("suite", SUITES.values(), ids=SUITES.keys())
def test_suites_name_real_expectations(suite):
    import great_expectations.expectations as gxe

    for class_name, arguments in suite.expectations:
        getattr(gxe, class_name)(**arguments)  # unknown classes or arguments raise here
