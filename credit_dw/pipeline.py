"""The nightly pipeline's stages as plain functions, each recorded in ``ops.stage_runs``.

Airflow tasks call these (DAG files only wire); so do tests, without Airflow. Each stage takes the
business date and the run id, does its work through the package that owns it, records what it did
(or why it failed) and raises on failure so the orchestrator stops downstream stages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from credit_dw import audit, warehouse
from credit_dw.settings import get_settings

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
"""


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
    record both; an exception escaping ``work`` is recorded too."""
    business_date = _as_date(business_date)
    with warehouse.connect() as conn:
        conn.execute(STAGES_DDL)
        conn.execute(
            """insert into ops.stage_runs (run_id, business_date, stage, status)
               values (%s, %s, %s, 'running')
               on conflict (run_id, stage) do update
               set status = 'running', metrics = null, error = null, started_at = now(), finished_at = null""",
            (run_id, business_date, stage),
        )
    started = time.perf_counter()
    try:
        metrics, problem = work()
    except Exception as failure:
        _finish(run_id, stage, started, "failed", None, str(failure))
        raise
    _finish(run_id, stage, started, "failed" if problem else "success", metrics, problem and str(problem))
    if problem is not None:
        raise problem
    return metrics


def _finish(run_id: str, stage: str, started: float, status: str, metrics, error: str | None) -> None:
    with warehouse.connect() as conn:
        conn.execute(
            """update ops.stage_runs set status = %s, metrics = %s, error = %s,
               finished_at = now(), seconds = %s where run_id = %s and stage = %s""",
            (status, json.dumps(metrics, default=str) if metrics is not None else None, error,
             round(time.perf_counter() - started, 3), run_id, stage),
        )


def ingest_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    from ingestion.load import ingest

    def work():
        summary = ingest(_as_date(business_date), run_id=run_id)
        return summary.as_dict(), summary.failure()

    return _record("ingest", business_date, run_id, work)


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
        result = build(_as_date(business_date), select=select, exclude=exclude, marts_schema=BUILD_SCHEMA)
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


def stage_runs(run_id: str) -> list[dict[str, Any]]:
    """What each stage of a run recorded, in the order they ran."""
    with warehouse.connect() as conn:
        conn.execute(STAGES_DDL)
        cursor = conn.execute(
            """select stage, status, metrics, error, seconds from ops.stage_runs
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
