"""Orchestration pieces on their own, against real servers: notifications (a local SMTP server and a
local HTTP receiver), run metrics, structured logs and the run lock. Whole nightly runs (failure
alerts, retries, backfill equivalence, concurrent runs) are in tests/test_nightly_operations.py."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from types import SimpleNamespace

import psycopg
import pytest

from api.webhooks import SIGNATURE_HEADER, verify_signature
from credit_dw import notify

SECRET = "whsec_test-notifications-0123456789"


@pytest.fixture
def channels(fresh_settings, smtp_server, webhook_server):
    fresh_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port, alert_email_to="risk@example.com,ops@example.com",
                   alert_email_from="credit-dw@example.com", alert_webhook_url=webhook_server.url,
                   alert_webhook_secret=SECRET)
    return smtp_server, webhook_server


def notifications(warehouse_url: str, subject: str) -> dict[str, tuple]:
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute("select channel, status, attempts, error from ops.notifications where subject = %s",
                            (subject,)).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_a_failed_task_is_emailed_and_posted_signed(channels, warehouse_url):
    inbox, receiver = channels
    ti = SimpleNamespace(dag_id="credit_nightly", task_id="load.ingest", run_id="manual__2026-10-02", try_number=4,
                         max_tries=3)
    reason = "bank/2026-10-01/camt053_20261001.xml: malformed XML at line 12"

    notify.task_failed({"ti": ti, "params": {"business_date": "2026-10-01"}, "exception": ValueError(reason)})

    [message] = inbox.messages
    subject = "[credit-dw] credit_nightly 2026-10-01: task load.ingest failed"
    assert message["Subject"] == subject
    assert message["From"] == "credit-dw@example.com"
    assert message["To"] == "risk@example.com, ops@example.com"
    text = " ".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())
    assert "camt053_20261001.xml: malformed XML at line 12" in text and "attempt 4 of 4" in text

    [(headers, body)] = receiver.requests
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    posted = json.loads(body)
    assert (posted["event"], posted["task_id"], posted["business_date"], posted["reason"]) == (
        notify.TASK_FAILED, "load.ingest", "2026-10-01", reason)
    assert notifications(warehouse_url, subject) == {"email": ("sent", 1, None), "webhook": ("sent", 1, None)}


def test_a_receiver_that_fails_is_retried_then_recorded_not_raised(channels, warehouse_url, fresh_settings):
    inbox, receiver = channels
    receiver.statuses[:] = [503, 503, 503]
    fresh_settings(smtp_port=1)  # nothing listens there
    subject = "[credit-dw] undeliverable"

    outcome = notify.send(notify.Notification(event=notify.TASK_FAILED, subject=subject, lines=["x"]))

    assert outcome["webhook"] == {"status": "failed", "attempts": notify.WEBHOOK_ATTEMPTS, "error": "HTTP 503 "
                                  "Service Unavailable"}
    assert len(receiver.requests) == notify.WEBHOOK_ATTEMPTS
    assert outcome["email"]["status"] == "failed" and "Connection refused" in outcome["email"]["error"]
    assert inbox.messages == []
    stored = notifications(warehouse_url, subject)
    assert stored["webhook"][0] == "failed" and stored["email"][0] == "failed"


def test_new_critical_alerts_are_notified_once(channels, warehouse_url):
    inbox, receiver = channels
    from scoring.alerts import ALERTS_DDL

    day = date(2026, 10, 5)
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(ALERTS_DDL)
        conn.execute(
            """insert into scoring.alerts (customer_id, rule_id, rule_version, rule_set, rule_set_version,
                   content_hash, severity, evidence, raised_on, last_seen_on)
               values ('KH900001', 'limit_breach', 1, 'default', '1', 'h1', 'critical',
                       '{"exposure": 120, "contact_name_hash": "ab"}', %(day)s, %(day)s),
                      ('KH900002', 'limit_breach', 1, 'default', '1', 'h2', 'medium', '{}', %(day)s, %(day)s)""",
            {"day": day},
        )

    first = notify.critical_alerts(day, "run-1")
    again = notify.critical_alerts(day, "run-2")

    assert first == {"alerts": 1, "email": "sent", "webhook": "sent"}
    assert again == {"alerts": 0}
    [message] = inbox.messages
    assert message["Subject"] == f"[credit-dw] 1 new critical alert(s) on {day}"
    [(_, body)] = receiver.requests
    [alert] = json.loads(body)["alerts"]
    assert alert["customer_id"] == "KH900001" and alert["evidence"] == {"exposure": 120}, "no personal data out"


def test_a_second_nightly_run_is_refused_while_one_holds_the_run_lock(warehouse_url):
    from credit_dw.pipeline import RunInProgress, run_lock

    with run_lock(date(2026, 10, 1), warehouse_url):
        with pytest.raises(RunInProgress) as refused, run_lock(date(2026, 10, 2), warehouse_url):
            pass
        assert "credit_nightly 2026-10-01, backend pid" in str(refused.value)
        assert "not starting a second one for 2026-10-02" in str(refused.value)
    with run_lock(date(2026, 10, 2), warehouse_url):
        pass  # released with the first run


def test_scheduled_stages_and_command_line_runs_exclude_each_other(warehouse_url):
    """A scheduled run has no process holding the run lock; each stage holds a shared hold on it."""
    import psycopg

    from credit_dw.pipeline import _RUN_LOCK, RunInProgress, _record, run_lock

    def stage_trying_a_command_line_run():
        with pytest.raises(RunInProgress) as refused, run_lock(date(2026, 10, 3), warehouse_url):
            pass
        assert "credit_nightly 2026-10-03 stage probe" in str(refused.value)
        return {}, None

    _record("probe", date(2026, 10, 3), "scheduled-run", stage_trying_a_command_line_run)

    with psycopg.connect(warehouse_url, autocommit=True) as command_line_run:
        command_line_run.execute(f"select pg_advisory_lock({_RUN_LOCK})")
        with pytest.raises(RunInProgress):  # Airflow retries it with backoff
            _record("probe", date(2026, 10, 3), "scheduled-run", lambda: ({}, None))
        command_line_run.execute(f"select pg_advisory_unlock({_RUN_LOCK})")
    _record("probe", date(2026, 10, 3), "scheduled-run", lambda: ({}, None))


def test_a_stage_records_its_run_metrics_and_logs_json_lines(fresh_database_url, fresh_settings, tmp_path):
    from credit_dw import logs
    from credit_dw.pipeline import ingest_stage, task_attempt

    landing = tmp_path / "landing"
    folder = landing / "erp" / "2026-10-01"
    folder.mkdir(parents=True)
    (folder / "invoices_20261001.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,currency,amount\n"
        "INV-M-1,KH000001,2026-10-01,2026-10-31,CNY,1000.00\n"
        "INV-M-2,KH000001,2026-10-01,2026-10-31,CNY,250.00\n", encoding="utf-8")
    # A second extract: the two files load side by side on two worker threads.
    (folder / "invoices_extra_20261001.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,currency,amount\n"
        "INV-M-3,KH000001,2026-10-01,2026-10-31,CNY,75.00\n", encoding="utf-8")
    # A database of its own: the session's warehouse holds the end-to-end test's sandbox.
    fresh_settings(landing_dir=landing, database_url=fresh_database_url, ingest_workers=2)
    run_id = "test-metrics-run"

    with task_attempt("load.ingest", 2):
        ingest_stage(date(2026, 10, 1), run_id)

    with psycopg.connect(fresh_database_url) as conn:
        status, rows, peak, try_number, task_id, seconds, batch_id = conn.execute(
            """select s.status, s.rows, s.peak_rss_bytes, s.try_number, s.task_id, s.seconds, m.batch_id
               from ops.stage_runs s join raw.load_manifest m using (run_id)
               where s.run_id = %s and s.stage = 'ingest' and m.path like '%%/invoices_20261001.csv'""",
            (run_id,)).fetchone()
    assert (status, rows, try_number, task_id) == ("success", 3, 2, "load.ingest")
    assert 20 * 2**20 < peak < 8 * 2**30, "peak resident memory of a Python process, in bytes"
    assert seconds > 0
    lines = [json.loads(line) for line in logs.log_path().read_text(encoding="utf-8").splitlines()]
    mine = [line for line in lines if line.get("run_id") == run_id]
    assert {line["business_date"] for line in mine} == {"2026-10-01"}
    [batch] = [line for line in mine if line.get("source_file", "").endswith("/invoices_20261001.csv")]
    assert batch["batch_id"] == batch_id
    assert batch["rows"] == 2 and batch["stage"] == "ingest" and batch["try_number"] == 2
    # the files' own lines, logged on the worker threads, name the run too
    loaded = [line for line in mine if line["logger"] == "ingestion.load" and "loaded" in line["message"]]
    assert len(loaded) == 2 and {line["stage"] for line in loaded} == {"ingest"}
    assert mine[-1]["message"] == "stage success" and mine[-1]["rows"] == 3


def test_the_smtp_settings_become_the_airflow_connection_notifications_use(fresh_settings):
    from airflow.sdk import Connection

    from credit_dw.orchestrator import airflow_environment

    fresh_settings(smtp_host="mail.example.com", smtp_port=587, smtp_user="credit", smtp_password="s3cret",
                   smtp_starttls="true")
    variable = airflow_environment()[f"AIRFLOW_CONN_{notify.SMTP_CONN_ID.upper()}"]
    connection = Connection.from_json(variable, conn_id=notify.SMTP_CONN_ID)
    assert (connection.host, connection.port, connection.login, connection.password) == (
        "mail.example.com", 587, "credit", "s3cret")
    assert connection.extra_dejson["disable_tls"] is False and connection.extra_dejson["disable_ssl"] is True


def test_dbt_takes_its_profile_from_the_airflow_connection_the_settings_define(fresh_settings, monkeypatch,
                                                                                warehouse_url):
    from credit_dw import dbt, warehouse
    from credit_dw.orchestrator import EXPORTED_WAREHOUSE_CONN, airflow_environment

    variable = f"AIRFLOW_CONN_{dbt.WAREHOUSE_CONN_ID.upper()}"

    def export() -> None:  # what configure_airflow_environment does, undone after the test
        for name, value in airflow_environment().items():
            monkeypatch.setenv(name, value)

    monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv(EXPORTED_WAREHOUSE_CONN, raising=False)
    fresh_settings(database_url=warehouse_url)
    export()
    # read back through Airflow's own connection lookup: the profile is the warehouse's
    assert dbt.profile_env_from_connection() == dbt.profile_env(warehouse_url)

    # the settings change (another warehouse): the connection exported from them follows, also in a
    # child process that inherited the environment
    other = warehouse.with_database(warehouse_url, "another_warehouse")
    fresh_settings(database_url=other)
    child = subprocess.run([sys.executable, "-c", "from credit_dw.orchestrator import airflow_environment as e; "
                            f"print(e()[{variable!r}])"], capture_output=True, text=True, check=True)
    assert json.loads(child.stdout)["schema"] == "another_warehouse", child.stderr
    export()
    assert dbt.profile_env_from_connection()["CREDIT_DW_DBT_DBNAME"] == "another_warehouse"

    # a deployment's own connection is kept, and dbt uses it
    deployment = json.dumps({"conn_type": "postgres", "host": "db.internal", "port": 6432, "login": "transformer",
                             "password": "s3cret", "schema": "credit"})
    monkeypatch.setenv(variable, deployment)
    assert variable not in airflow_environment()
    assert dbt.profile_env_from_connection() == {
        "CREDIT_DW_DBT_HOST": "db.internal", "CREDIT_DW_DBT_PORT": "6432", "CREDIT_DW_DBT_USER": "transformer",
        "CREDIT_DW_DBT_PASSWORD": "s3cret", "CREDIT_DW_DBT_DBNAME": "credit"}

    monkeypatch.delenv(variable)
    assert dbt.profile_env_from_connection() is None, "no connection: the settings' URL is used"
