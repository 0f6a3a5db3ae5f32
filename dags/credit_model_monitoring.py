"""
### credit_model_monitoring

Weekly monitoring of the PD models, triggered by data: after every nightly scoring (the nightly's
`credit_dw.scoring.credit_warnings` asset, emitted once tonight's PDs and decisions are written),
after a training run registered new models, and, as a fallback, on Mondays at 06:00 (business
time zone). A run reports only when the newest scores are a week newer than the last report, or the
active model changed since it.

The report (`scoring.model_monitoring_reports`, one row per active and shadow model) gives
population stability, discrimination on scores whose outcome has matured, and whether the shadow
model does better than the active one. Trigger with `{"business_date": "YYYY-MM-DD"}` to report on
the scores up to that date. The work lives in `scoring.model.lifecycle`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from credit_dw.assets import CREDIT_WARNINGS, MODEL_REGISTRY
from credit_dw.settings import get_settings

BUSINESS_TIME_ZONE = get_settings().timezone  # CREDIT_DW_TIMEZONE, as the nightly


@dag(
    dag_id="credit_model_monitoring",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * 1", timezone=BUSINESS_TIME_ZONE),
        assets=(CREDIT_WARNINGS | MODEL_REGISTRY),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    tags=["credit", "model"],
    doc_md=__doc__,
    params={
        "business_date": Param(None, type=["null", "string"], format="date",
                               description="Report on the scores up to this date; empty: the newest scores."),
    },
)
def credit_model_monitoring():
    @task.short_circuit
    def monitoring_due(params=None) -> dict | None:
        from scoring.model.lifecycle import due_for_dag

        return due_for_dag("monitoring", (params or {}).get("business_date"))

    @task
    def report(decision: dict, run_id=None) -> dict:
        from datetime import date

        from scoring.model.lifecycle import weekly_monitoring

        return weekly_monitoring(date.fromisoformat(decision["as_of_date"]), run_id=run_id)

    report(monitoring_due())


credit_model_monitoring()
