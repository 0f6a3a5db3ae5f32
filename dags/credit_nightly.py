"""
### credit_nightly

The nightly credit run. At 02:00 (business time zone) it closes the previous business day:

1. **load**: every pending landing file up to the business date into `raw` (manifest,
   quarantine), then the raw tables' Great Expectations suites on what was loaded; a blocking
   failure stops the run;
2. **transform**: `dbt build` of staging; the customer master (entity resolution); `dbt build`
   of the marts into a private build schema; the marts' blocking checks and, only when they pass,
   publication into `marts` in one transaction (a failed night leaves yesterday's marts published);
3. **score**: PDs and grades with the active model, then the policy rules: alerts, limit
   proposals, collections worklist; then the nightly credit-risk report (HTML and PDF) and the
   new critical alerts to the configured webhooks and alert recipients;
4. **quality summary** (whatever happened before): checks, failures and quarantined rows per
   source in `dq.run_summaries`, and the run's Great Expectations Data Docs for stewards.

A task that fails for good (data error, or retries spent) is e-mailed and posted to the alert
webhook with its reason (`credit_dw.notify`).

Trigger with `{"business_date": "YYYY-MM-DD"}` to (re)build a given day; every stage is idempotent
per business date. Data errors fail a task at once; transient ones (a lost connection, a server
restart) are retried with exponential backoff. The work lives in `credit_dw.pipeline`; this file
only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, task, task_group
from airflow.timetables.trigger import CronTriggerTimetable

from credit_dw.assets import CREDIT_WARNINGS, PUBLISHED_MARTS, RAW_SOURCES, STAGING
from credit_dw.notify import task_failed
from credit_dw.settings import get_settings

settings = get_settings()
# The schedule runs on business time (CREDIT_DW_TIMEZONE), the same zone in which the pipeline
# turns a logical date into the business date it closes.
BUSINESS_TIME_ZONE = settings.timezone


@dag(
    dag_id="credit_nightly",
    schedule=CronTriggerTimetable("0 2 * * *", timezone=BUSINESS_TIME_ZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    tags=["credit", "nightly"],
    doc_md=__doc__,
    default_args={
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        # Once a task has failed for good: e-mail and webhook (CREDIT_DW_ALERT_* settings).
        "on_failure_callback": task_failed,
    },
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Business date to process; empty: the day before the run's logical date.",
        )
    },
)
def credit_nightly():
    @task
    def resolve_business_date(params=None, logical_date=None) -> str:
        from credit_dw.pipeline import business_date_for

        return business_date_for(logical_date, (params or {}).get("business_date")).isoformat()

    @task_group
    def load(business_date: str):
        @task(outlets=list(RAW_SOURCES.values()))
        def ingest(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import ingest_stage

            return run_stage(ingest_stage, business_date, run_id)

        @task
        def quality_gate(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import quality_gate_stage

            return run_stage(quality_gate_stage, business_date, run_id)

        ingest(business_date) >> quality_gate(business_date)

    @task_group
    def transform(business_date: str):
        @task(outlets=[STAGING])
        def build_staging(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import transform_stage

            return run_stage(transform_stage, business_date, run_id, stage="staging", select="staging")

        @task
        def resolve_entities(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import resolve_entities_stage

            return run_stage(resolve_entities_stage, business_date, run_id)

        @task
        def build_marts(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import transform_stage

            return run_stage(transform_stage, business_date, run_id, stage="marts", exclude="staging")

        @task(outlets=list(PUBLISHED_MARTS.values()))
        def publish(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import publish_stage

            return run_stage(publish_stage, business_date, run_id)

        (
            build_staging(business_date)
            >> resolve_entities(business_date)
            >> build_marts(business_date)
            >> publish(business_date)
        )

    @task_group
    def score(business_date: str):
        @task
        def score_pd(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import pd_scoring_stage

            return run_stage(pd_scoring_stage, business_date, run_id)

        @task(outlets=[CREDIT_WARNINGS])
        def decide(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import scoring_stage

            return run_stage(scoring_stage, business_date, run_id)

        @task
        def report(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import report_stage

            return run_stage(report_stage, business_date, run_id)

        @task
        def notify(business_date: str, run_id=None) -> dict:
            from credit_dw.orchestrator import run_stage
            from credit_dw.pipeline import webhooks_stage

            return run_stage(webhooks_stage, business_date, run_id)

        decided = score_pd(business_date) >> decide(business_date)
        decided >> report(business_date)
        decided >> notify(business_date)

    # After the checks whatever their outcome (all_done): stewards need the summary most when a night failed.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def quality_summary(business_date: str, run_id=None) -> dict:
        from credit_dw.orchestrator import run_stage
        from credit_dw.pipeline import quality_summary_stage

        return run_stage(quality_summary_stage, business_date, run_id)

    day = resolve_business_date()
    transformed = load(day) >> transform(day)
    transformed >> score(day)
    transformed >> quality_summary(day)


credit_nightly()
