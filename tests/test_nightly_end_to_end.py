"""The walking skeleton, end to end: sandbox files -> `credit-dw nightly` (Airflow's credit_nightly
run in-process) -> raw -> quality gate -> dbt marts -> warnings, checked against what the sandbox
wrote, amount by amount."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from nightly_cli import run_cli
from sandbox_oracle import expected_exposure

from sandbox.generator import generate

START, BUSINESS_DATE = date(2026, 8, 3), date(2026, 9, 30)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sandbox")
    generate(out, start=START, end=BUSINESS_DATE, seed=7, scale="tiny")
    return out / "landing"


MART_COLUMNS = ["open_receivables", "open_orders", "unapplied_cash", "exposure", "credit_limit", "currency",
                "headroom", "is_over_limit"]


def mart_rows(warehouse_url: str, as_of: date) -> dict[str, dict]:
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(
            f"""select customer_id, {', '.join(MART_COLUMNS)}
                from marts.fct_credit_exposure_daily where as_of_date = %s order by customer_id""",
            (as_of,),
        ).fetchall()
    return {row[0]: dict(zip(MART_COLUMNS, row[1:], strict=True)) for row in rows}


def test_nightly_builds_the_exposure_mart_from_the_landing_files(landing, warehouse_url):
    result = run_cli("nightly", "--date", BUSINESS_DATE.isoformat(), landing=landing)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "credit_nightly succeeded" in result.stdout
    for stage in ("ingest", "quality_gate", "staging", "resolve_entities", "marts", "publish", "score"):
        assert stage in result.stdout

    expected = expected_exposure(landing, BUSINESS_DATE)
    rows = mart_rows(warehouse_url, BUSINESS_DATE)
    assert set(rows) == set(expected)
    assert sum(e["open_receivables"] for e in expected.values()) > 0, "the sandbox should leave receivables open"
    for customer, truth in expected.items():
        row = rows[customer]
        for column in ("open_receivables", "open_orders", "unapplied_cash", "exposure"):
            assert abs(row[column] - truth[column]) <= 0.02, (customer, column, row[column], truth[column])
        assert row["credit_limit"] == truth["credit_limit"] and row["currency"] == truth["currency"], customer
        assert row["headroom"] == row["credit_limit"] - row["exposure"]
        assert row["is_over_limit"] is (row["exposure"] > row["credit_limit"])

    with psycopg.connect(warehouse_url) as conn:
        warned = {r[0] for r in conn.execute(
            "select customer_id from scoring.credit_warnings where as_of_date = %s and rule_id = 'limit_breach'",
            (BUSINESS_DATE,),
        )}
        manifest = conn.execute(
            "select count(*), count(*) filter (where status = 'failed') from raw.load_manifest"
        ).fetchone()
        unbalanced = conn.execute(
            """select count(*) from raw.load_manifest
               where status = 'loaded' and rows_read <> rows_loaded + rows_quarantined"""
        ).fetchone()[0]
    assert warned == {customer for customer, row in rows.items() if row["is_over_limit"]}
    assert manifest[0] == sum(1 for p in landing.rglob("*") if p.is_file()), "every landing file is in the manifest"
    assert manifest[1] == 0
    assert unbalanced == 0


def test_a_second_run_for_the_same_date_gives_the_same_marts(landing, warehouse_url):
    before = mart_rows(warehouse_url, BUSINESS_DATE)
    result = run_cli("nightly", "--date", BUSINESS_DATE.isoformat(), landing=landing)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mart_rows(warehouse_url, BUSINESS_DATE) == before


def test_an_unparseable_file_fails_the_run_at_ingestion_and_leaves_nothing_half_loaded(landing, warehouse_url):
    next_day = date(2026, 10, 1)
    good = sorted(landing.glob("bank/*/camt053_*.xml"))[-1].read_text(encoding="utf-8")
    assert good.count("<Ntry>") >= 1
    folder = landing / "bank" / next_day.isoformat()
    folder.mkdir(parents=True)
    truncated = folder / f"camt053_{next_day:%Y%m%d}.xml"
    truncated.write_text(good[: len(good) * 2 // 3], encoding="utf-8")
    invoices_folder = landing / "erp" / next_day.isoformat()
    invoices_folder.mkdir(parents=True)
    (invoices_folder / f"invoices_{next_day:%Y%m%d}.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,currency,amount\n"
        "INV-LATE-1,KH000001,2026-10-01,2026-10-31,CNY,1000.00\n",
        encoding="utf-8",
    )
    marts_before = mart_rows(warehouse_url, BUSINESS_DATE)

    result = run_cli("nightly", "--date", next_day.isoformat(), landing=landing)

    assert result.returncode == 1, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert truncated.name in output and "malformed XML" in output
    assert "Traceback" not in result.stdout + result.stderr
    with psycopg.connect(warehouse_url) as conn:
        status, error = conn.execute(
            "select status, error from raw.load_manifest where path = %s", (str(truncated),)
        ).fetchone()
        half_loaded = conn.execute(
            "select count(*) from raw.bank_statement_entries where _source_file = %s", (str(truncated),)
        ).fetchone()[0]
        other_file_loaded = conn.execute(
            "select count(*) from raw.erp_invoices where invoice_id = 'INV-LATE-1'"
        ).fetchone()[0]
        stages = dict(conn.execute(
            """select stage, status from ops.stage_runs
               where run_id = (select max(run_id) from ops.stage_runs where business_date = %(day)s)""",
            {"day": next_day},
        ).fetchall())
    assert status == "failed" and "malformed XML" in error and truncated.name in error
    assert half_loaded == 0
    assert other_file_loaded == 1, "the other files of the run still load"
    assert stages == {"ingest": "failed", "quality_summary": "success"}, "nothing after ingestion ran but the summary"
    assert mart_rows(warehouse_url, BUSINESS_DATE) == marts_before
