"""The nightly pipeline's stages as plain functions, each recorded in ``ops.stage_runs``.

Airflow tasks call these (DAG files only wire); so do tests, without Airflow. Each stage takes the
business date and the run id, does its work through the package that owns it, records what it did
(or why it failed) and raises on failure so the orchestrator stops downstream stages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from credit_dw import audit, logs, warehouse
from credit_dw.settings import get_settings

log = logging.getLogger(__name__)

# What each stage did: status, its own metrics, and the run metrics compared across nights
# (seconds, rows, peak memory, the Airflow attempt: try_number 2 is the first retry).
STAGES_DDL = """
create schema if not exists ops;
create table if not exists ops.stage_runs (
    run_id text not null,
    business_date date not null,
    stage text not null,
    status text not null check (status in ('running', 'success', 'failed')),
    metrics jsonb,
    error text,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    seconds numeric(12, 3),
    primary key (run_id, stage)
);
alter table ops.stage_runs add column if not exists task_id text;
alter table ops.stage_runs add column if not exists try_number integer not null default 1;
alter table ops.stage_runs add column if not exists rows bigint;
alter table ops.stage_runs add column if not exists peak_rss_bytes bigint;
"""


@dataclass(frozen=True)
class TaskAttempt:
    task_id: str | None
    try_number: int


# The Airflow task and attempt a stage runs in (``orchestrator.run_stage`` sets it); outside
# Airflow a stage is attempt 1 of no task.
NO_TASK = TaskAttempt(None, 1)
_attempt: ContextVar[TaskAttempt | None] = ContextVar("credit_dw_task_attempt", default=None)


@contextlib.contextmanager
def task_attempt(task_id: str | None, try_number: int) -> Iterator[None]:
    token = _attempt.set(TaskAttempt(task_id, try_number))
    try:
        yield
    finally:
        _attempt.reset(token)


def business_date_for(logical_date: datetime | None, requested: str | None = None) -> date:
    """The business date a run processes: the one asked for, else the day before the run's
    logical date in the business time zone (the 02:00 run closes the previous day)."""
    if requested:
        return date.fromisoformat(str(requested))
    if logical_date is None:
        raise ValueError("a run needs either a business_date parameter or a logical date")
    local = logical_date.astimezone(ZoneInfo(get_settings().timezone))
    return local.date() - timedelta(days=1)


def _as_date(value: date | str) -> date:
    # Airflow hands dates between tasks as ISO strings (XCom is JSON).
    return value if isinstance(value, date) else date.fromisoformat(value)


# Errors in the data, not in the machinery: retrying cannot help, so the run fails at once.
def data_errors() -> tuple[type[Exception], ...]:
    from credit_dw.dbt import DbtBuildFailed
    from expectations.validate import QualityGateFailed
    from ingestion.load import IngestionFailed

    return IngestionFailed, QualityGateFailed, DbtBuildFailed


StageWork = Callable[[], tuple[dict[str, Any], Exception | None]]


def _record(stage: str, business_date: date | str, run_id: str, work: StageWork) -> dict[str, Any]:
    """Run ``work``, which returns its metrics and the problem that fails the stage (or None), and
    record both with the run metrics; an exception escaping ``work`` is recorded too."""
    business_date = _as_date(business_date)
    attempt = _attempt.get() or NO_TASK
    logs.configure()
    with logs.run_context(business_date=business_date.isoformat(), run_id=run_id, stage=stage,
                          task_id=attempt.task_id, try_number=attempt.try_number):
        with warehouse.connect() as conn:
            # Two stages of a run may start together (report and notify): one runs the DDL at a time.
            conn.execute("select pg_advisory_xact_lock(hashtext('ops.stage_runs'))")
            conn.execute(STAGES_DDL)
            conn.execute(
                """insert into ops.stage_runs (run_id, business_date, stage, status, task_id, try_number)
                   values (%s, %s, %s, 'running', %s, %s)
                   on conflict (run_id, stage) do update
                   set status = 'running', metrics = null, error = null, started_at = now(), finished_at = null,
                       seconds = null, rows = null, peak_rss_bytes = null, task_id = excluded.task_id,
                       try_number = excluded.try_number""",
                (run_id, business_date, stage, attempt.task_id, attempt.try_number),
            )
        log.info("stage started")
        _reset_peak_rss()
        started = time.perf_counter()
        try:
            with _stage_share_of_run_lock(business_date, stage):
                metrics, problem = work()
        except Exception as failure:
            log.warning("stage failed: %s", failure)
            _finish(run_id, stage, started, "failed", None, str(failure))
            raise
        status = "failed" if problem else "success"
        rows = _finish(run_id, stage, started, status, metrics, problem and str(problem))
        log.info("stage %s", status, extra={"status": status, "rows": rows,
                                            "seconds": round(time.perf_counter() - started, 3)})
    if problem is not None:
        raise problem
    return metrics


def _finish(run_id: str, stage: str, started: float, status: str, metrics, error: str | None) -> int | None:
    rows = stage_rows(metrics)
    with warehouse.connect() as conn:
        conn.execute(
            """update ops.stage_runs set status = %s, metrics = %s, error = %s, finished_at = now(), seconds = %s,
                      rows = %s, peak_rss_bytes = %s
               where run_id = %s and stage = %s""",
            (status, json.dumps(metrics, default=str) if metrics is not None else None, error,
             round(time.perf_counter() - started, 3), rows, _peak_rss(), run_id, stage),
        )
    return rows


def stage_rows(metrics: dict[str, Any] | None) -> int | None:
    """The rows a stage wrote, from what it reports: rows loaded, dbt's rows affected, rows published."""
    if not metrics:
        return None
    if "files" in metrics:
        return sum(f.get("rows_loaded") or 0 for f in metrics["files"])
    if "rows_affected" in metrics:
        return metrics["rows_affected"]
    if isinstance(metrics.get("tables"), dict):
        return sum(metrics["tables"].values())
    return None


_PROC_SELF = Path("/proc/self")


def _reset_peak_rss() -> None:
    """Start measuring this stage's peak memory: Linux resets the resident high-water mark
    (VmHWM) when 5 is written to clear_refs; elsewhere the process's lifetime peak is reported."""
    with contextlib.suppress(OSError):
        (_PROC_SELF / "clear_refs").write_text("5")


def _peak_rss() -> int:
    """Peak resident memory in bytes since ``_reset_peak_rss`` (Linux), else of the process."""
    with contextlib.suppress(OSError):
        for line in (_PROC_SELF / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RunInProgress(RuntimeError):
    """Another nightly run holds the run lock on this warehouse."""


# Two advisory-lock keys (int4, int4): the project and the nightly run.
_RUN_LOCK = "hashtext('credit_dw'), hashtext('credit_nightly')"


# True while this process holds the run lock (a `credit-dw nightly` or `backfill`, whose stages run
# in-process under dag.test): its stages are covered and must not ask for a share of it.
_run_lock_held_here = False


@contextlib.contextmanager
def run_lock(business_date: date, database_url: str | None = None) -> Iterator[None]:
    """Hold the warehouse's nightly-run lock while a run (or a backfill's day) works: a second run
    started meanwhile, for any business date, is refused at once instead of loading and publishing
    over the first. The lock is a session advisory lock: a crashed run releases it with its
    connection.

    A run the Airflow scheduler executes has no process that lives as long as the run: each of its
    stages holds a *shared* hold on the same lock while it works (``_stage_share_of_run_lock``), so
    a command-line run is refused while a scheduled stage works, and a scheduled stage started
    during a command-line run fails with ``RunInProgress`` and is retried with backoff."""
    global _run_lock_held_here
    with _advisory_run_lock(f"credit_nightly {business_date.isoformat()}", business_date, database_url):
        _run_lock_held_here = True
        try:
            yield
        finally:
            _run_lock_held_here = False


@contextlib.contextmanager
def _stage_share_of_run_lock(business_date: date, stage: str) -> Iterator[None]:
    if _run_lock_held_here:
        yield
        return
    with _advisory_run_lock(f"credit_nightly {business_date.isoformat()} stage {stage}", business_date, None,
                            shared=True):
        yield


@contextlib.contextmanager
def _advisory_run_lock(application: str, business_date: date, database_url: str | None, *,
                       shared: bool = False) -> Iterator[None]:
    mode = "_shared" if shared else ""
    with warehouse.connect(database_url, autocommit=True) as conn:
        conn.execute("select set_config('application_name', %s, false)", (application,))
        if not conn.execute(f"select pg_try_advisory_lock{mode}({_RUN_LOCK})").fetchone()[0]:
            holder = conn.execute(
                """select a.application_name, a.pid from pg_locks l join pg_stat_activity a using (pid)
                   where l.locktype = 'advisory' and l.granted and l.database = (
                         select oid from pg_database where datname = current_database())
                     and l.classid = (hashtext('credit_dw')::bigint & 4294967295)::oid
                     and l.objid = (hashtext('credit_nightly')::bigint & 4294967295)::oid
                   limit 1""").fetchone()
            who = f"{holder[0] or 'another session'}, backend pid {holder[1]}" if holder else "another session"
            raise RunInProgress(
                f"another nightly run is in progress on this warehouse ({who}): not starting a second one "
                f"for {business_date}; wait for it to finish, then run again"
            )
        try:
            yield
        finally:
            conn.execute(f"select pg_advisory_unlock{mode}({_RUN_LOCK})")


def ingest_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    from ingestion.load import ingest

    def work():
        summary = ingest(_as_date(business_date), run_id=run_id)
        _log_batches(run_id)
        return summary.as_dict(), summary.failure()

    return _record("ingest", business_date, run_id, work)


def _log_batches(run_id: str) -> None:
    """One structured line per landing file this run handled, naming its load batch."""
    with warehouse.connect() as conn:
        batches = conn.execute(
            """select batch_id, path, status, rows_loaded, rows_quarantined from raw.load_manifest
               where run_id = %s order by batch_id""", (run_id,)).fetchall()
    for batch_id, path, status, loaded, quarantined in batches:
        log.info("batch %s %s: %s rows loaded, %s quarantined", batch_id, status, loaded or 0, quarantined or 0,
                 extra={"batch_id": batch_id, "source_file": path, "status": status, "rows": loaded})


def quality_gate_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """The raw tables' suites, on the batches this run loaded; a blocking failure stops the run."""
    from expectations.suites import SUITES
    from expectations.validate import QualityGateFailed, assert_passed, validate_table
    from ingestion.feeds import feed_named

    def work():
        url = warehouse.database_url()
        batches: dict[str, list[int]] = {}
        with warehouse.connect(url) as conn:
            for feed, batch_id in conn.execute(
                "select feed, batch_id from raw.load_manifest where run_id = %s and status = 'loaded'", (run_id,)
            ):
                batches.setdefault(feed_named(feed).table_name, []).append(batch_id)
        outcomes = [
            validate_table(url, suite, run_id=run_id, batch_ids=batches[suite.table])
            for suite in SUITES.values()
            if suite.schema == "raw" and suite.table in batches
        ]
        metrics = {"suites": [
            {"suite": o.suite_name, "table": o.table, "blocking": o.blocking, "success": o.success,
             "evaluated": o.evaluated, "failed": o.failed, "failures": o.failures}
            for o in outcomes
        ]}
        try:
            assert_passed(outcomes)
        except QualityGateFailed as failure:
            return metrics, failure
        return metrics, None

    return _record("quality_gate", business_date, run_id, work)


# The nightly builds marts here, out of consumers' sight, and copies them into PUBLISHED_SCHEMA
# only when every blocking check passed; a failed night leaves yesterday's marts published.
BUILD_SCHEMA = "marts_build"
PUBLISHED_SCHEMA = "marts"


def transform_stage(
    business_date: date | str, run_id: str, *, stage: str = "transform", select: str | None = None,
    exclude: str | None = None,
) -> dict[str, Any]:
    """``dbt build`` for the business date, marts into the private build schema."""
    from credit_dw.dbt import build

    def work():
        result = build(_as_date(business_date), select=select, exclude=exclude, marts_schema=BUILD_SCHEMA,
                       run_id=run_id, stage=stage)
        return result.as_dict(), None

    return _record(stage, business_date, run_id, work)


def publish_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """Check the built marts with their blocking suites, then publish them in one transaction."""
    from dataclasses import replace

    from expectations.suites import SUITES
    from expectations.validate import QualityGateFailed, assert_passed, validate_table

    def work():
        url = warehouse.database_url()
        day = _as_date(business_date)
        outcomes = [
            validate_table(url, replace(suite, schema=BUILD_SCHEMA), run_id=run_id,
                           row_filter=f"as_of_date = date '{day.isoformat()}'" if suite.per_business_date else None)
            for suite in SUITES.values()
            if suite.schema == PUBLISHED_SCHEMA
        ]
        metrics: dict[str, Any] = {"suites": [
            {"suite": o.suite_name, "table": o.table, "blocking": o.blocking, "success": o.success,
             "evaluated": o.evaluated, "failed": o.failed, "failures": o.failures}
            for o in outcomes
        ]}
        try:
            assert_passed(outcomes)
        except QualityGateFailed as failure:
            metrics["published"] = False
            return metrics, failure
        metrics["tables"] = publish_marts(url, run_id, day)
        metrics["published"] = True
        # Tables recreated by the publication lose their grants: re-apply the roles' access.
        from credit_dw import access

        access.apply(url)
        return metrics, None

    return _record("publish", business_date, run_id, work)


PUBLICATIONS_DDL = """
create schema if not exists ops;
create table if not exists ops.publications (
    run_id text not null,
    business_date date not null,
    published_at timestamptz not null default now(),
    tables jsonb not null
);
"""


def publish_marts(database_url: str, run_id: str, business_date: date) -> dict[str, int]:
    """Copy every table of the build schema into the published schema in one transaction: readers
    see yesterday's tables until the commit, then today's, never a mix."""
    from psycopg import sql

    rows: dict[str, int] = {}
    with warehouse.connect(database_url) as conn:
        conn.execute(PUBLICATIONS_DDL)
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(PUBLISHED_SCHEMA)))
        tables = [name for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE' "
            "order by table_name", (BUILD_SCHEMA,))]
        for table in tables:
            built, published = sql.Identifier(BUILD_SCHEMA, table), sql.Identifier(PUBLISHED_SCHEMA, table)
            if _columns(conn, BUILD_SCHEMA, table) == _columns(conn, PUBLISHED_SCHEMA, table):
                conn.execute(sql.SQL("truncate {}").format(published))
            else:  # new table, or its columns changed: replace it
                conn.execute(sql.SQL("drop table if exists {} cascade").format(published))
                conn.execute(sql.SQL("create table {} (like {} including defaults)").format(published, built))
            copied = conn.execute(sql.SQL("insert into {} select * from {}").format(published, built))
            rows[table] = copied.rowcount
        conn.execute(
            "insert into ops.publications (run_id, business_date, tables) values (%s, %s, %s)",
            (run_id, business_date, json.dumps(rows)),
        )
        audit.record(conn, "publish_marts", PUBLISHED_SCHEMA, {"run_id": run_id, "business_date": business_date,
                                                               "tables": rows})
    return rows


def _columns(conn, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = %s and table_name = %s order by ordinal_position""",
        (schema, table),
    ).fetchall()


def resolve_entities_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """The customer master: link ERP, CRM, bank and bureau records to one customer (reads staging)."""
    from mdm.resolve import resolve_entities

    return _record(
        "resolve_entities", business_date, run_id,
        lambda: (resolve_entities(warehouse.database_url(), run_id), None),
    )


def pd_scoring_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """PD, grade, points and reason codes for every active customer, with the active model."""
    from scoring.model.score import score_customers

    return _record(
        "score_pd", business_date, run_id,
        lambda: (score_customers(_as_date(business_date), run_id=run_id), None),
    )


def scoring_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """Policy rules on the published marts: alerts, limit proposals, collections worklist, timeline."""
    from scoring.decisions import run_nightly_decisions

    def work():
        return run_nightly_decisions(_as_date(business_date), run_id=run_id), None

    return _record("score", business_date, run_id, work)


def webhooks_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """New critical alerts POSTed to the API's registered webhooks (signed; failures dead-lettered)
    and sent to the operations channels of the settings (e-mail, webhook)."""
    from api.webhooks import deliver_new_alerts
    from credit_dw.notify import critical_alerts

    def work():
        day = _as_date(business_date)
        summary = deliver_new_alerts(day)
        summary["notified"] = critical_alerts(day, run_id)
        return summary, None

    return _record("webhooks", business_date, run_id, work)


def report_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """The nightly credit-risk report (HTML and PDF) from the published marts."""
    from reporting import build_report

    def work():
        result = build_report(_as_date(business_date), database_url=warehouse.database_url())
        return {key: result[key] for key in ("html", "pdf", "pdf_engine", "complete", "summary") if key in result}, None

    return _record("report", business_date, run_id, work)


def quality_summary_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    """The run's quality summary (checks, failures, quarantined rows per source) and its Data Docs
    for stewards; runs whether or not the run failed, since a failed night is when they look."""
    from expectations.stewards import summarise_run

    def work():
        summary = summarise_run(run_id, _as_date(business_date))
        for line in summary.lines():
            log.info(line)
        return {"checks": summary.checks, "failed_checks": summary.failed_checks,
                "blocking_failures": summary.blocking_failures, "rows_quarantined": summary.rows_quarantined,
                "data_docs": summary.data_docs, "summary": summary.lines()}, None

    return _record("quality_summary", business_date, run_id, work)


def stage_runs(run_id: str) -> list[dict[str, Any]]:
    """What each stage of a run recorded, in the order they ran."""
    with warehouse.connect() as conn:
        conn.execute(STAGES_DDL)
        cursor = conn.execute(
            """select stage, status, metrics, error, seconds, rows, peak_rss_bytes, try_number from ops.stage_runs
               where run_id = %s order by started_at""",
            (run_id,),
        )
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def running_stage(business_date: date) -> str | None:
    """The stage currently running for a business date, if any (for progress display)."""
    with warehouse.connect() as conn:
        row = conn.execute(
            """select stage from ops.stage_runs where business_date = %s and status = 'running'
               order by started_at desc limit 1""",
            (business_date,),
        ).fetchone()
    return row[0] if row else None
