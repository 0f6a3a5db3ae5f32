"""
### credit_nightly

The nightly credit run. At 02:00 (business time zone) it closes the previous business day:

1. **ingest**: every pending landing file up to the business date into `raw` (manifest, quarantine);
2. **quality_gate**: Great Expectations suites on the raw tables; a blocking failure stops the run;
3. **transform**: `dbt build` of staging and the credit marts for the business date;
4. **score**: early warnings (limit breaches) from the marts.

Trigger with `{"business_date": "YYYY-MM-DD"}` to (re)build a given day; each stage is idempotent
per business date. The work lives in `credit_dw.pipeline`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

BUSINESS_TIME_ZONE = "Asia/Shanghai"


@dag(
    dag_id="credit_nightly",
    schedule=CronTriggerTimetable("0 2 * * *", timezone=BUSINESS_TIME_ZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    tags=["credit", "nightly"],
    doc_md=__doc__,
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

    @task
    def ingest(business_date: str, run_id=None) -> dict:
        from credit_dw.pipeline import ingest_stage

        return ingest_stage(business_date, run_id)

    @task
    def quality_gate(business_date: str, run_id=None) -> dict:
        from credit_dw.pipeline import quality_gate_stage

        return quality_gate_stage(business_date, run_id)

    @task
    def transform(business_date: str, run_id=None) -> dict:
        from credit_dw.pipeline import transform_stage

        return transform_stage(business_date, run_id)

    @task
    def score(business_date: str, run_id=None) -> dict:
        from credit_dw.pipeline import scoring_stage

        return scoring_stage(business_date, run_id)

    day = resolve_business_date()
    loaded = ingest(day)
    checked = quality_gate(day)
    built = transform(day)
    scored = score(day)
    loaded >> checked >> built >> scored


credit_nightly()
