"""Data-quality suites against a real PostgreSQL: clean invoices pass and are recorded, dirty ones
fail the gate with readable reasons, and a Unix-socket URL reaches the same database. Every mart
the publication copies has a blocking suite; volume, drift and reconciliation checks fire on
doctored tables and pass without history."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from credit_dw.marts import mart_models, published_marts
from expectations.suites import MART_SUITES, PER_BUSINESS_DATE, SUITES, Suite
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


# --- the marts' suites and the volume, drift and reconciliation checks --------------------------

BLOCKING_MART_SUITES = {suite.table: suite for suite in MART_SUITES if suite.blocking}
WARNING_MART_SUITES = {suite.table: suite for suite in MART_SUITES if not suite.blocking}
TODAY, YESTERDAY = date(2026, 10, 2), date(2026, 10, 1)


def dbt_published_marts(home: Path) -> set[str]:
    """The marts dbt itself (``dbt parse``) materialises as tables: what the publication copies."""
    from dbt.cli.main import dbtRunner

    from credit_dw.dbt import DBT_PROJECT_DIR

    outcome = dbtRunner().invoke([
        "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home / "target"), "--log-path", str(home / "logs"), "--quiet",
    ])
    assert outcome.success, outcome.exception
    return {node.name for node in outcome.result.nodes.values()
            if node.resource_type == "model" and node.fqn[1] == "marts"
            and node.config.materialized in {"table", "incremental"}}


def test_every_published_mart_has_a_blocking_suite_with_its_documented_schema_and_grain(
    tmp_path, monkeypatch, warehouse_url
):
    from credit_dw.dbt import profile_env

    for name, value in profile_env(warehouse_url).items():
        monkeypatch.setenv(name, value)
    published = dbt_published_marts(tmp_path)

    assert published and set(BLOCKING_MART_SUITES) == published
    assert {model.name for model in published_marts()} == published
    for table, suite in BLOCKING_MART_SUITES.items():
        kinds = [class_name for class_name, _ in suite.expectations]
        [column_set] = [arguments for class_name, arguments in suite.expectations
                        if class_name == "ExpectTableColumnsToMatchSet"]
        assert column_set["exact_match"] and column_set["column_set"], f"{table} has no documented columns"
        assert {"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"} & set(kinds), f"{table}: no key"
        if suite.per_business_date:
            assert "as_of_date" in column_set["column_set"], f"{table} is checked on the rows of its date"
    assert {table for table, suite in BLOCKING_MART_SUITES.items() if suite.per_business_date} == PER_BUSINESS_DATE


def test_the_documented_columns_are_the_built_ones():
    exposure = mart_models()["fct_credit_exposure_daily"]
    assert exposure.keys == (("as_of_date", "customer_id"),)
    assert exposure.columns[:3] == ("as_of_date", "customer_id", "customer_name")
    assert mart_models()["customer_credit_profile_history"].columns == mart_models()["customer_credit_profile"].columns


def only(suite: Suite, description: str) -> Suite:
    """The suite reduced to its expectation described so (the rest needs the whole mart)."""
    [expectation] = [e for e in suite.expectations if description in e[1].get("description", "")]
    return dataclasses.replace(suite, expectations=(expectation,))


def description(suite: Suite) -> str:
    return suite.expectations[0][1]["description"]


def execute(database_url: str, *statements: str) -> None:
    with psycopg.connect(database_url) as conn:
        for statement in statements:
            conn.execute(statement)


def publish(database_url: str, **row_counts: int) -> None:
    from credit_dw.pipeline import PUBLICATIONS_DDL

    with psycopg.connect(database_url) as conn:
        conn.execute(PUBLICATIONS_DDL)
        conn.execute("insert into ops.publications (run_id, business_date, tables) values ('test', %s, %s)",
                     (YESTERDAY, Jsonb(row_counts)))


def test_a_mart_far_below_its_recent_publications_warns_and_no_history_passes(fresh_database_url):
    volume = only(WARNING_MART_SUITES["fct_invoices"], "median of the last")
    execute(fresh_database_url, "create schema marts",
            "create table marts.fct_invoices as select 'INV-' || n as invoice_id from generate_series(1, 30) n")

    assert validate_table(fresh_database_url, volume, run_id="t").success, "no publication yet"
    for _ in range(3):
        publish(fresh_database_url, fct_invoices=100, dim_customers=5)
    dropped = validate_table(fresh_database_url, volume, run_id="t")
    execute(fresh_database_url, "insert into marts.fct_invoices select 'INV-X' || n from generate_series(1, 40) n")
    recovered = validate_table(fresh_database_url, volume, run_id="t")

    assert not dropped.success and not dropped.blocking
    assert dropped.failures == [f"unexpected_rows_expectation [{description(volume)}]: 1 row failed"]
    assert recovered.success, "70 rows: above half the median of 100"


def test_a_dated_mart_far_below_its_other_dates_warns(fresh_database_url):
    volume = only(WARNING_MART_SUITES["fct_credit_exposure_daily"], "other dates")
    execute(fresh_database_url, "create schema marts",
            """create table marts.fct_credit_exposure_daily as
               select day::date as as_of_date, 'C-' || n as customer_id
               from generate_series(date '2026-09-25', date '2026-10-01', interval '1 day') day,
                    generate_series(1, 40) n""",
            f"insert into marts.fct_credit_exposure_daily select date '{TODAY}', 'C-' || n "
            "from generate_series(1, 8) n")
    today = f"as_of_date = date '{TODAY}'"

    assert not validate_table(fresh_database_url, volume, run_id="t", row_filter=today).success
    assert validate_table(fresh_database_url, volume, run_id="t", row_filter=f"as_of_date = date '{YESTERDAY}'").success
    execute(fresh_database_url, f"delete from marts.fct_credit_exposure_daily where as_of_date < date '{TODAY}'")
    assert validate_table(fresh_database_url, volume, run_id="t", row_filter=today).success, "no other date yet"


def register_load(database_url: str, batch_id: int, rows_loaded: int, feed: str = "erp_invoices") -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """insert into raw.load_manifest (batch_id, run_id, source, feed, business_date, path, extract, delivery,
                   size_bytes, sha256, status, rows_read, rows_loaded, rows_quarantined)
               values (%s, 'test', 'erp', %s, %s, %s, %s, 1, 10, %s, 'loaded', %s, %s, 0)""",
            (batch_id, feed, date(2026, 9, batch_id), f"invoices_{batch_id}.csv", f"invoices_{batch_id}",
             f"sha-{batch_id}", rows_loaded, rows_loaded))


def test_a_raw_file_far_below_the_feeds_recent_files_warns_and_no_history_passes(database):
    volume = only(INVOICE_WARNINGS, "last 10 files")
    register_load(database, 10, 12)
    insert_invoices(database, [(f"INV-{n}", "C-1", date(2026, 9, 10), date(2026, 10, 10), "CNY", Decimal(1), 10)
                               for n in range(12)])
    assert validate_table(database, volume, run_id="t", batch_ids=[10]).success, "the feed's first file"

    for batch_id in range(1, 6):
        register_load(database, batch_id, 100)
    register_load(database, 6, 90, feed="erp_credit_notes")  # another feed's history does not count
    low = validate_table(database, volume, run_id="t", batch_ids=[10])

    assert not low.success and not low.blocking and low.failed == 1
    register_load(database, 11, 60)
    insert_invoices(database, [(f"INV-B{n}", "C-1", date(2026, 9, 11), date(2026, 10, 11), "CNY", Decimal(1), 11)
                               for n in range(60)])
    assert validate_table(database, volume, run_id="t", batch_ids=[11]).success


def test_drift_from_yesterdays_published_mart_warns(fresh_database_url):
    drift = only(WARNING_MART_SUITES["fct_invoices"], "mean invoice amount")
    build = dataclasses.replace(drift, schema="marts_build")  # as the nightly validates it
    invoices = "select 'INV-' || n as invoice_id, {} * (100 + n) as invoice_amount from generate_series(1, 50) n"
    execute(fresh_database_url, "create schema marts_build",
            f"create table marts_build.fct_invoices as {invoices.format(100)}")  # a yuan/fen mix-up

    assert validate_table(fresh_database_url, build, run_id="t").success, "nothing published yet"
    execute(fresh_database_url, "create schema marts", f"create table marts.fct_invoices as {invoices.format(1)}")
    drifted = validate_table(fresh_database_url, build, run_id="t")
    execute(fresh_database_url, "update marts_build.fct_invoices set invoice_amount = invoice_amount / 80")

    assert not drifted.success and not drifted.blocking
    assert drifted.failures == [f"unexpected_rows_expectation [{description(drift)}]: 1 row failed"]
    assert validate_table(fresh_database_url, build, run_id="t").success, "a factor 1.25 is no drift"


def test_a_reconciliation_break_between_marts_blocks_the_publication(fresh_database_url):
    """Exposure's open receivables and invoice counts reconcile to the open-items snapshot of the date."""
    reconciliation = only(BLOCKING_MART_SUITES["fct_credit_exposure_daily"], "reconcile to the open-items")
    build = dataclasses.replace(reconciliation, schema="marts_build")
    execute(
        fresh_database_url, "create schema marts_build",
        """create table marts_build.fct_ar_open_items_snapshots (as_of_date date, invoice_id text, customer_id text,
               currency text, open_amount numeric(18, 2))""",
        f"""insert into marts_build.fct_ar_open_items_snapshots values
               ('{TODAY}', 'INV-1', 'C-1', 'CNY', 100.00), ('{TODAY}', 'INV-2', 'C-1', 'CNY', 50.00),
               ('{TODAY}', 'INV-3', 'C-2', 'USD', 20.00)""",
        """create table marts_build.fct_credit_exposure_daily (as_of_date date, customer_id text, currency text,
               open_invoice_count integer, open_receivables numeric(18, 2))""",
        # C-2's invoice is in dollars, its limit in yuan: the amount is converted, only the count compares
        f"""insert into marts_build.fct_credit_exposure_daily values
               ('{TODAY}', 'C-1', 'CNY', 2, 150.00), ('{TODAY}', 'C-2', 'CNY', 1, 142.00),
               ('{TODAY}', 'C-3', 'CNY', 0, 0), ('{YESTERDAY}', 'C-1', 'CNY', 5, 999.00)""",
    )
    today = f"as_of_date = date '{TODAY}'"
    assert build.blocking and build.per_business_date
    reconciled = validate_table(fresh_database_url, build, run_id="t", row_filter=today)
    assert reconciled.success, reconciled.failures

    execute(fresh_database_url, "update marts_build.fct_ar_open_items_snapshots set open_amount = 40 "
                                "where invoice_id = 'INV-2'")
    broken = validate_table(fresh_database_url, build, run_id="t", row_filter=today)

    assert not broken.success
    with pytest.raises(QualityGateFailed, match="reconcile to the open-items snapshot"):
        assert_passed([reconciled, broken])


def test_the_customer_master_reconciles_to_its_cross_reference(fresh_database_url):
    reconciliation = only(BLOCKING_MART_SUITES["dim_customers"], "reconcile to customer_source_xref")
    execute(
        fresh_database_url, "create schema marts",
        "create table marts.customer_source_xref (source_system text, source_record_id text, customer_id text)",
        """insert into marts.customer_source_xref values ('erp', 'KH1', 'CU1'), ('crm', 'A1', 'CU1'),
               ('bank', 'ACC:1', 'CU1'), ('erp', 'KH2', 'CU2'), ('bank', 'ACC:2', null)""",
        """create table marts.dim_customers as select * from (values ('CU1', 1, 1, 0, 1), ('CU2', 1, 0, 0, 0))
               as customers (customer_id, erp_record_count, crm_record_count, bureau_record_count, bank_entry_count)""",
    )
    assert validate_table(fresh_database_url, reconciliation, run_id="t").success

    execute(fresh_database_url, "insert into marts.dim_customers values ('CU3', 1, 0, 0, 0)")
    orphan = validate_table(fresh_database_url, reconciliation, run_id="t")
    assert not orphan.success and orphan.blocking


def test_every_published_mart_row_carries_its_as_of_date():
    """Consumers tell which night's data they read from the rows themselves; the blocking suites'
    exact column sets hold the built tables to these documented columns."""
    assert [model.name for model in published_marts() if "as_of_date" not in model.columns] == []
