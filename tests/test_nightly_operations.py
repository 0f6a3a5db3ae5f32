"""Operating the nightly, end to end through `credit-dw` in child processes: two runs started at once
(one refuses), a backfill that heals a lost connection and gives the day-by-day marts, and a bad file
that blocks publication, keeps yesterday's marts and alerts by e-mail and webhook.

A sandbox of its own and two warehouses of their own: "daily" runs one nightly per day, "backfill"
rebuilds the same days with `credit-dw backfill`. The tests run in file order."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from nightly_cli import CLI, run_cli
from psycopg import sql

from sandbox.generator import generate

OPS_START, DAY_1, DAY_2, BAD_DAY = date(2026, 9, 21), date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 1)
ALERT_SECRET = "whsec_nightly-alerts-0123456789"


@pytest.fixture(scope="module")
def ops_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ops_sandbox")
    generate(out, start=OPS_START, end=DAY_2, seed=11, scale="tiny")
    return out / "landing"


@pytest.fixture(scope="module")
def warehouses(module_database) -> dict[str, str]:
    return {"daily": module_database("daily"), "backfill": module_database("backfill")}


def cli_env(landing: Path, database_url: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "CREDIT_DW_LANDING_DIR": str(landing), "CREDIT_DW_DATABASE_URL": database_url,
            "COLUMNS": "200", **{f"CREDIT_DW_{name.upper()}": str(value) for name, value in settings.items()}}


def mart_columns(conn, table: str) -> list[str]:
    """The columns two warehouses built from the same files must agree on: not the timestamptz
    ones, which in these marts all say when this warehouse learnt, issued, resolved or queued
    something (wall clock: known_at, resolved_at, …; business time lives in dates such as
    as_of_date and known_on_date, which are compared), nor the ids of the runs that built a row
    (resolution_run_id: Airflow names runs by when they started), nor encrypted ones (AES-GCM draws
    a fresh nonce per encryption)."""
    columns = conn.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = 'marts' and table_name = %s order by ordinal_position""", (table,)).fetchall()
    return [name for name, data_type in columns
            if data_type != "timestamp with time zone" and not name.endswith(("run_id", "_encrypted"))]


def marts_checksums(database_url: str, *, per_column: bool = False) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the sorted rows) per published mart, or per mart column."""
    checksums = {}
    with psycopg.connect(database_url) as conn:
        tables = [name for (name,) in conn.execute(
            """select table_name from information_schema.tables
               where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1""")]
        for table in tables:
            columns = mart_columns(conn, table)
            for label, selected in ([(f"{table}.{c}", [c]) for c in columns] if per_column else [(table, columns)]):
                checksums[label] = conn.execute(sql.SQL(
                    "select count(*), md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) "
                    "from (select {} from {}) r").format(
                    sql.SQL(", ").join(map(sql.Identifier, selected)), sql.Identifier("marts", table))).fetchone()
    return checksums


def differing_columns(first_url: str, second_url: str) -> list[str]:
    first, second = marts_checksums(first_url, per_column=True), marts_checksums(second_url, per_column=True)
    return sorted(column for column in first.keys() | second.keys() if first.get(column) != second.get(column))


def stage_rows(database_url: str, day: date) -> dict[str, tuple]:
    """stage -> (status, try_number, rows, peak_rss_bytes, seconds) of the day's latest run."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """select stage, status, try_number, rows, peak_rss_bytes, seconds from ops.stage_runs
               where run_id = (select run_id from ops.stage_runs where business_date = %s
                               order by started_at desc limit 1)""", (day,)).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_two_nightly_runs_started_at_once_one_refuses_and_nothing_loads_twice(ops_landing, warehouses):
    daily = warehouses["daily"]
    first = run_cli("nightly", "--date", DAY_1.isoformat(), landing=ops_landing, env=cli_env(ops_landing, daily))
    assert first.returncode == 0, first.stdout + first.stderr

    env = cli_env(ops_landing, daily)
    runs = [subprocess.Popen([*CLI, "nightly", "--date", DAY_2.isoformat()], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    codes = sorted(run.returncode for run in runs)

    assert codes == [0, 2], outputs
    # the refused run says why on the terminal
    refusals = [" ".join(output.split()) for output in outputs]
    assert any("could not start" in text and "another nightly run is in progress" in text
               and f"credit_nightly {DAY_2}" in text for text in refusals), outputs
    with psycopg.connect(daily) as conn:
        twice = conn.execute(
            """select path, count(*) from raw.load_manifest group by path having count(*) > 1""").fetchall()
        runs_of_day_2 = conn.execute(
            "select count(distinct run_id) from ops.stage_runs where business_date = %s", (DAY_2,)).fetchone()[0]
    assert twice == [], "a landing file was registered twice"
    assert runs_of_day_2 == 1
    stages = stage_rows(daily, DAY_2)
    assert all(status == "success" for status, *_ in stages.values()), stages
    assert stages["ingest"][2] > 0 and stages["publish"][2] > 0, "rows loaded and published are measured"
    assert all(peak > 2**20 and seconds >= 0 for *_, peak, seconds in stages.values())


def test_backfill_heals_a_lost_connection_and_gives_the_day_by_day_marts(ops_landing, warehouses):
    from credit_dw.pipeline import PUBLICATIONS_DDL

    backfill = warehouses["backfill"]
    # The transient failure: the publication's connection is killed by the server while it works
    # (held at its last statement by a lock, so that the kill lands mid-publication every time).
    with psycopg.connect(backfill, autocommit=True) as setup:
        setup.execute(PUBLICATIONS_DDL)
    blocker = psycopg.connect(backfill)
    blocker.execute("lock table ops.publications in exclusive mode")
    run = subprocess.Popen([*CLI, "backfill", "--start", DAY_1.isoformat(), "--end", DAY_2.isoformat()],
                           env=cli_env(ops_landing, backfill), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    killed = None
    try:
        with psycopg.connect(backfill, autocommit=True) as monitor:
            deadline = time.monotonic() + 600
            while killed is None and run.poll() is None and time.monotonic() < deadline:
                row = monitor.execute(
                    """select pid from pg_stat_activity where datname = current_database()
                       and wait_event_type = 'Lock' and query ilike 'insert into ops.publications%'""").fetchone()
                if row:
                    killed = monitor.execute("select pg_terminate_backend(%s)", (row[0],)).fetchone()[0] and row[0]
                time.sleep(0.2)
    finally:
        blocker.rollback()
        blocker.close()
    output = run.communicate(timeout=600)[0]

    assert killed, "the publication never reached the held lock:\n" + output
    assert run.returncode == 0, output
    publish = stage_rows(backfill, DAY_1)["publish"]
    assert publish[:2] == ("success", 2), "published by the retry, the second attempt"
    daily = warehouses["daily"]
    assert marts_checksums(backfill) == marts_checksums(daily), differing_columns(backfill, daily)

    with psycopg.connect(backfill) as conn:
        nodes = dict(conn.execute(
            """select status, count(*) from ops.dbt_node_runs
               where run_id = (select run_id from ops.stage_runs where business_date = %s limit 1)
               group by status""", (DAY_2,)).fetchall())
        exposure = conn.execute(
            """select n.seconds, n.rows_affected, n.started_at is not null from ops.dbt_node_runs n
               join ops.stage_runs s on s.run_id = n.run_id and s.stage = 'marts'
               where s.business_date = %s and n.name = 'fct_credit_exposure_daily'""", (DAY_2,)).fetchone()
    assert nodes.get("success", 0) > 10 and nodes.get("pass", 0) > 10, nodes
    assert set(nodes) <= {"success", "pass", "warn", "skipped", "no-op"}, nodes
    assert exposure is not None and exposure[0] > 0 and exposure[2], exposure


def test_a_bad_file_blocks_publication_keeps_the_marts_and_alerts(ops_landing, warehouses, smtp_server,
                                                                  webhook_server):
    from api.webhooks import SIGNATURE_HEADER, verify_signature

    daily = warehouses["daily"]
    folder = ops_landing / "erp" / BAD_DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / f"invoices_{BAD_DAY:%Y%m%d}.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,currency,amount\n"
        "INV-BAD-1,KH000001,2026-10-01,2026-09-01,CNY,1000.00\n", encoding="utf-8")
    marts_before = marts_checksums(daily)
    env = cli_env(ops_landing, daily, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                  alert_email_to="risk@example.com", alert_webhook_url=webhook_server.url,
                  alert_webhook_secret=ALERT_SECRET)

    result = run_cli("nightly", "--date", BAD_DAY.isoformat(), landing=ops_landing, env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    output = " ".join(result.stdout.split())
    assert "expect_column_pair_values_a_to_be_greater_than_b" in output and "raw.erp_invoices" in output
    assert marts_checksums(daily) == marts_before, "yesterday's marts stay published"
    stages = stage_rows(daily, BAD_DAY)
    assert stages["quality_gate"][:2] == ("failed", 1), "a data error is not retried"
    assert "publish" not in stages and stages["quality_summary"][0] == "success"
    with psycopg.connect(daily) as conn:
        published = conn.execute("select count(*) from ops.publications where business_date = %s",
                                 (BAD_DAY,)).fetchone()[0]
        summary = conn.execute(
            """select blocking_failures, failures, per_source -> 'erp' ->> 'files', data_docs from dq.run_summaries
               where business_date = %s""", (BAD_DAY,)).fetchone()
    assert published == 0
    assert summary[0] == 1 and any("due_date" in failure for failure in summary[1]) and summary[2] == "1"
    assert Path(summary[3]).is_file()

    [message] = smtp_server.messages
    assert message["Subject"] == f"[credit-dw] credit_nightly {BAD_DAY}: task load.quality_gate failed"
    body = " ".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())
    assert "due_date" in body and "raw.erp_invoices" in body
    [(headers, posted)] = webhook_server.requests
    assert verify_signature(ALERT_SECRET, posted, headers[SIGNATURE_HEADER])
    assert json.loads(posted)["task_id"] == "load.quality_gate"
