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

from credit_dw import warehouse
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


def quality_gate_stage(
    business_date: date | str, run_id: str, suite_names: list[str] | None = None
) -> dict[str, Any]:
    from expectations.suites import SUITES
    from expectations.validate import QualityGateFailed, assert_passed, validate_table

    def work():
        url = warehouse.database_url()
        names = suite_names or sorted(SUITES)
        outcomes = [validate_table(url, SUITES[name], run_id=run_id) for name in names]
        metrics = {"suites": [
            {"suite": o.suite_name, "table": o.table, "success": o.success, "evaluated": o.evaluated,
             "failed": o.failed, "failures": o.failures}
            for o in outcomes
        ]}
        try:
            assert_passed(outcomes)
        except QualityGateFailed as failure:
            return metrics, failure
        return metrics, None

    return _record("quality_gate", business_date, run_id, work)


def transform_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    from credit_dw.dbt import build

    return _record(
        "transform", business_date, run_id, lambda: (build(_as_date(business_date)).as_dict(), None)
    )


def scoring_stage(business_date: date | str, run_id: str) -> dict[str, Any]:
    from scoring.warnings import raise_limit_breach_warnings

    def work():
        summary = raise_limit_breach_warnings(_as_date(business_date), run_id=run_id)
        return summary.as_dict(), None

    return _record("score", business_date, run_id, work)


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
