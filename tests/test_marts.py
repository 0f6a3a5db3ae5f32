"""The credit marts built night by night equal one full refresh, row for row.

A tiny sandbox spanning a month-end is delivered as the sources would: each file lands in the
landing directory on its arrival date from the ground truth (late files and corrected re-deliveries
made frequent here). Every night ingests what has arrived (the pipeline's ingest stage, so the run's
business date is recorded) and runs the incremental marts; the last night runs every credit and
portfolio mart. A full refresh for the last date must then give exactly the same rows in every mart
table. The open-items function must agree with the month-end snapshots and respect `known_on`.
The project's unit tests, which the nightly build leaves out, run here against the built warehouse.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from credit_dw.dbt import DBT_PROJECT_DIR, profile_env
from sandbox.generator import generate

START, END = date(2026, 1, 26), date(2026, 2, 4)
MONTH_END = date(2026, 1, 31)
# Defects that move data in time, frequent enough to happen in a fortnight.
DEFECT_RATES = {"late_file": 0.08, "corrected_redelivery": 0.04, "redelivered_file": 0.02}
MARTS = "+path:models/marts/credit +path:models/marts/portfolio"
# What a nightly run must rebuild once the views exist: the ledger table, the views on it (dbt
# replaces a table with drop ... cascade) and the incremental marts, which all feed the profile history.
NIGHTLY = "int_ar_ledger_lines_unioned+,+customer_credit_profile_history"


def run_dbt(home: Path, *args: str) -> list:
    from dbt.cli.main import dbtRunner

    outcome = dbtRunner().invoke([
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home / "target"),
        "--log-path", str(home / "logs"),
        "--quiet",
    ])
    failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if str(r.status) not in {"success", "pass"}]
    assert outcome.success and not failed, (outcome.exception, failed)
    return list(outcome.result or [])


def deliveries(sandbox: Path) -> dict[date, list[str]]:
    """Relative landing paths by the date they arrive."""
    by_day: dict[date, list[str]] = {}
    with (sandbox / "ground_truth" / "deliveries.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_day.setdefault(date.fromisoformat(row["arrival_date"]), []).append(row["file"])
    return by_day


def mart_rows(conn: psycopg.Connection, schema: str) -> dict[str, list[tuple]]:
    tables = [row[0] for row in conn.execute(
        "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE'",
        (schema,),
    )]
    rows = {}
    for table in tables:
        relation = sql.Identifier(schema, table)
        rows[table] = sorted(
            conn.execute(sql.SQL("select row_to_json(t)::text from {} as t").format(relation)).fetchall()
        )
    return rows


@pytest.fixture
def warehouse(fresh_database_url, fresh_settings, tmp_path, monkeypatch):
    sandbox = tmp_path / "sandbox"
    generate(sandbox, start=START, end=END, seed=13, scale="tiny", defect_rates=DEFECT_RATES)
    landing = tmp_path / "landing"
    landing.mkdir()
    fresh_settings(database_url=fresh_database_url, landing_dir=landing, home=tmp_path / "home")
    for name, value in profile_env(fresh_database_url).items():
        monkeypatch.setenv(name, value)
    return sandbox, landing, tmp_path / "home"


def test_nightly_incremental_runs_equal_a_full_refresh(warehouse, fresh_database_url):
    from credit_dw.pipeline import ingest_stage
    from ingestion.load import IngestionFailed

    sandbox, landing, home = warehouse
    arrivals = deliveries(sandbox)
    late = sum(1 for day, files in arrivals.items() for f in files if day.isoformat() not in f.split("/")[1])
    assert late, "the sandbox should deliver some files late"
    day, built = START, False
    while day <= END:
        for relative in arrivals.get(day, []):
            target = landing / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sandbox / "landing" / relative, target)
        # a truncated file stays failed: the pipeline would stop there, this test builds what loaded
        with contextlib.suppress(IngestionFailed):
            ingest_stage(day, f"nightly-{day}")
        as_of = json.dumps({"as_of_date": day.isoformat()})
        run_dbt(home, "run", "--select", NIGHTLY if built and day < END else MARTS, "--vars", as_of)
        day, built = day + timedelta(days=1), True

    as_of = json.dumps({"as_of_date": END.isoformat()})
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        incremental = mart_rows(conn, "marts")
        # the month-end snapshot as the nightly run of the month-end built it
        built_then = sorted(conn.execute(
            """select invoice_id, open_amount, days_past_due, aging_bucket from marts.fct_ar_open_items_snapshots
               where as_of_date = %s""", (MONTH_END,)).fetchall())
        exposure_days = conn.execute(
            """select count(distinct as_of_date), max(as_of_date) - min(as_of_date) + 1
               from marts.fct_credit_exposure_daily""").fetchone()
        snapshot_dates = [r[0] for r in conn.execute(
            "select distinct as_of_date from marts.fct_ar_open_items_snapshots order by 1")]
    run_dbt(home, "run", "--select", MARTS, "--full-refresh", "--vars", as_of)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        full = mart_rows(conn, "marts")
        # later, with more data loaded: the same month-end as known then, and as known now
        known_then = sorted(conn.execute(
            """select invoice_id, open_amount, days_past_due, aging_bucket
               from marts.ar_open_items_as_of(%s, known_on => %s)""", (MONTH_END, MONTH_END)).fetchall())
        known_now = conn.execute(
            "select count(*) from marts.ar_open_items_as_of(%s)", (MONTH_END,)).fetchone()[0]

    assert exposure_days[0] == exposure_days[1] >= 7, "one row set per day, no gaps"
    assert snapshot_dates == [MONTH_END, END]
    assert set(incremental) == set(full)
    assert {"fct_credit_exposure_daily", "fct_ar_open_items_snapshots", "customer_credit_profile_history",
            "fct_invoices", "fct_bank_receipts", "portfolio_roll_rates"} <= set(full)
    for table in sorted(full):
        assert incremental[table] == full[table], f"{table}: incremental runs differ from a full refresh"
    assert built_then and known_then == built_then
    assert known_now > 0  # documents loaded after the month-end may open or close items as of it

    # dbt reads the columns of a unit test's inputs from the warehouse: they exist now
    unit_tests = run_dbt(home, "test", "--select", "test_type:unit", "--vars", as_of)
    assert sum(1 for r in unit_tests if r.node.resource_type == "unit_test") >= 5


def test_a_nightly_tests_the_staging_rows_of_its_own_batches_a_full_refresh_all(
        fresh_database_url, fresh_settings, tmp_path, monkeypatch):
    """Staging's data tests scan views over all of raw: a pipeline run checks the rows of the load
    batches it loaded; rows of earlier batches were checked by earlier runs, and a full refresh
    checks everything again."""
    from credit_dw.dbt import DbtBuildFailed, build
    from ingestion.load import ingest

    header = "invoice_id,customer_id,invoice_date,due_date,currency,amount\n"
    for day, invoice in ((date(2026, 10, 1), "INV-B-1"), (date(2026, 10, 2), "INV-B-2")):
        folder = tmp_path / "landing" / "erp" / day.isoformat()
        folder.mkdir(parents=True)
        (folder / f"invoices_{day:%Y%m%d}.csv").write_text(
            header + f"{invoice},KH000001,{day},2026-10-31,CNY,100.00\n", encoding="utf-8")
    fresh_settings(landing_dir=tmp_path / "landing", database_url=fresh_database_url)
    for day in (date(2026, 10, 1), date(2026, 10, 2)):
        ingest(day, database_url=fresh_database_url, run_id=f"nightly-{day}")

    def break_row(invoice_id: str) -> None:
        # what no loader lets through (the customer is required): a broken row in raw
        with psycopg.connect(fresh_database_url) as conn:
            conn.execute("update raw.erp_invoices set customer_id = null where invoice_id = %s", (invoice_id,))

    def staging_build(run_id: str, *, full_refresh: bool = False) -> None:
        monkeypatch.setenv("DBT_FULL_REFRESH", "true" if full_refresh else "false")
        build(date(2026, 10, 2), database_url=fresh_database_url, select="stg_erp__invoices", run_id=run_id)

    break_row("INV-B-1")  # loaded by the first night
    staging_build("nightly-2026-10-02")  # the second night checks its own batch only
    with pytest.raises(DbtBuildFailed, match="not_null_stg_erp__invoices_customer_id"):
        staging_build("nightly-2026-10-02", full_refresh=True)
    with pytest.raises(DbtBuildFailed, match="not_null_stg_erp__invoices_customer_id"):
        staging_build("a run that loaded nothing")  # names no batch: every row
    break_row("INV-B-2")
    with pytest.raises(DbtBuildFailed, match="not_null_stg_erp__invoices_customer_id"):
        staging_build("nightly-2026-10-02")
