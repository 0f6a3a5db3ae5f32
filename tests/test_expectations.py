"""Data-quality suites against a real PostgreSQL: clean invoices pass and are recorded, dirty ones
fail the gate with readable reasons, and a Unix-socket URL reaches the same database."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from expectations.suites import SUITES
from expectations.validate import (
    QualityGateFailed,
    ValidationOutcome,
    assert_passed,
    validate_table,
)
from ingestion.load import ensure_raw_schema

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
INVOICES, INVOICE_WARNINGS = SUITES["raw_erp_invoices"], SUITES["raw_erp_invoices_warnings"]


@pytest.fixture
def database(fresh_database_url: str) -> str:
    """A fresh warehouse database with the raw tables the ingestion creates."""
    with psycopg.connect(fresh_database_url) as conn:
        ensure_raw_schema(conn)
    return fresh_database_url


def insert_invoices(database_url: str, rows: list[tuple]) -> None:
    with psycopg.connect(database_url) as conn:
        conn.cursor().executemany(
            """insert into raw.erp_invoices (invoice_id, customer_id, invoice_date, due_date, currency,
               amount, _batch_id, _source_file, _source_line, _loaded_at)
               values (%s, %s, %s, %s, %s, %s, %s, 'invoices_20261001.csv', %s, now())""",
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


def test_clean_invoices_pass_and_are_recorded(database, capfd):
    insert_invoices(database, CLEAN_INVOICES)
    run_id = f"test-{uuid.uuid4()}"

    outcome = validate_table(database, INVOICES, run_id=run_id)

    assert outcome.success, outcome.failures
    assert (outcome.evaluated, outcome.failed, outcome.failures) == (len(INVOICES.expectations), 0, [])
    assert outcome.table == "raw.erp_invoices"
    assert stored_results(database, run_id) == [
        (INVOICES.name, outcome.table, True, True, outcome.evaluated, 0, [], "true")
    ]
    assert_passed([outcome])
    assert "Calculating Metrics" not in capfd.readouterr().err, "GX progress bars are not off"


def test_dirty_invoices_fail_the_gate_with_named_expectations(database):
    insert_invoices(database, CLEAN_INVOICES + DIRTY_INVOICES)
    run_id = f"test-{uuid.uuid4()}"

    outcome = validate_table(database, INVOICES, run_id=run_id)
    duplicates = validate_table(database, INVOICE_WARNINGS, run_id=run_id)

    assert not outcome.success
    assert outcome.failures == [
        "expect_column_values_to_be_in_set(currency): 1 unexpected value, e.g. ['XXY']",
        "expect_column_pair_values_a_to_be_greater_than_b(due_date, invoice_date): "
        "1 unexpected value, e.g. [['2026-09-30', '2026-10-05']]",
    ]
    assert outcome.failed == 2
    assert not duplicates.success and not duplicates.blocking
    assert duplicates.failures == [
        "expect_compound_columns_to_be_unique(invoice_id, _batch_id): 2 unexpected values, e.g. [['INV-1', 1]]"
    ]
    stored = {row[0]: row for row in stored_results(database, run_id)}
    assert stored[INVOICES.name][3:7] == (False, outcome.evaluated, 2, outcome.failures)
    with pytest.raises(QualityGateFailed) as raised:
        assert_passed([outcome, duplicates])
    message = str(raised.value)
    assert outcome.table in message
    assert all(failure in message for failure in outcome.failures)


def test_unix_socket_url_reaches_the_warehouse(database):
    insert_invoices(database, CLEAN_INVOICES)
    socket_url = f"postgresql://postgres@/{make_url(database).database}?host=/var/run/postgresql"

    outcome = validate_table(socket_url, INVOICES, run_id=f"test-{uuid.uuid4()}")

    assert outcome.success, outcome.failures


def test_only_the_batches_of_this_run_are_checked(database):
    insert_invoices(database, CLEAN_INVOICES + [("INV-9", "C-3", date(2026, 10, 6), date(2026, 11, 5), "XXY",
                                                 Decimal("10.00"), 3)])
    assert validate_table(database, INVOICES, run_id="t", batch_ids=[1, 2]).success
    assert not validate_table(database, INVOICES, run_id="t", batch_ids=[3]).success


def test_check_characters_are_verified_in_the_warehouse(database):
    from stdnum.cn import uscc

    valid = "91310000MA1FL8TQ3" + uscc.calc_check_digit("91310000MA1FL8TQ3")
    broken = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    with psycopg.connect(database) as conn:
        conn.cursor().executemany(
            """insert into raw.crm_accounts (account_id, account_name, uscc, _batch_id, _source_file,
               _source_line, _loaded_at) values (%s, 'x', %s, 1, 'accounts.csv', 2, now())""",
            [("A1", valid), ("A2", broken), ("A3", None)],
        )
    outcome = validate_table(database, SUITES["raw_crm_accounts"], run_id="t")
    assert outcome.failures == ["unexpected_rows_expectation [uscc carries a valid check character]: 1 row failed"]


def test_missing_column_is_reported_not_raised(database):
    insert_invoices(database, CLEAN_INVOICES)
    with psycopg.connect(database) as conn:
        conn.execute("alter table raw.erp_invoices drop column amount")

    outcome = validate_table(database, INVOICES, run_id=f"test-{uuid.uuid4()}")

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


def test_a_run_gets_a_quality_summary_and_data_docs_for_stewards(database, fresh_settings):
    from expectations.stewards import stored_summary, summarise_run

    fresh_settings(database_url=database)
    insert_invoices(database, CLEAN_INVOICES + DIRTY_INVOICES)
    run_id = "manual__2026-10-02T02:00:00+08:00"
    with psycopg.connect(database) as conn:
        conn.execute(
            """insert into raw.load_manifest (run_id, source, feed, business_date, path, extract, delivery, size_bytes,
                   sha256, status, rows_read, rows_loaded, rows_quarantined)
               values (%s, 'erp', 'erp_invoices', '2026-10-01', 'invoices_20261001.csv', 'invoices', 1, 10, 'ab',
                       'loaded', 9, 7, 2)""", (run_id,))
    blocking = validate_table(database, INVOICES, run_id=run_id)
    warning = validate_table(database, INVOICE_WARNINGS, run_id=run_id)

    summary = summarise_run(run_id, date(2026, 10, 1))

    erp = summary.per_source["erp"]
    assert (erp.files, erp.rows_loaded, erp.rows_quarantined) == (1, 7, 2)
    assert (erp.suites, erp.checks, erp.failed_checks) == (2, blocking.evaluated + warning.evaluated, 3)
    assert summary.blocking_failures == 1
    assert summary.failures[0] == f"blocking: raw_erp_invoices on raw.erp_invoices: {blocking.failures[0]}"
    assert summary.failures[-1].startswith("warning: raw_erp_invoices_warnings")
    text = "\n".join(summary.lines())
    assert "2 rows quarantined" in text and "erp" in text

    index = Path(summary.data_docs)
    assert index.name == "index.html" and index.is_file()
    pages = [page for page in index.parent.rglob("*.html") if "validations" in page.parts]
    assert len(pages) == 2, "one page per validation"
    assert any("XXY" in page.read_text(encoding="utf-8") for page in pages), "the failing value is shown"
    stored = stored_summary(run_id)
    assert (stored["checks"], stored["failed_checks"], stored["rows_quarantined"]) == (summary.checks, 3, 2)
    assert stored["per_source"]["erp"]["rows_quarantined"] == 2 and stored["data_docs"] == summary.data_docs
