"""
### credit_model_training

Monthly retraining of the PD models, triggered by data: every publication of the history it trains
on (the nightly's `credit_dw.marts.customer_credit_profile_history` asset) and, as a fallback, on
the 2nd of each month at 05:00 (business time zone). A run trains only when the published credit
profile history holds a month-end that no registered model has seen, so in practice once a month,
on the night the month-end is published.

The new scorecard is scored in shadow beside the active model until someone promotes it
(`credit-dw model promote`); a warehouse without an active model gets the new scorecard activated.
When the history is still too short to train on, the training task is skipped and says why.
Trigger with `{"business_date": "YYYY-MM-DD"}` to train on the history up to that date. The work
lives in `scoring.model.lifecycle`; this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from credit_dw.assets import MODEL_REGISTRY, PUBLISHED_MARTS
from credit_dw.settings import get_settings

BUSINESS_TIME_ZONE = get_settings().timezone  # CREDIT_DW_TIMEZONE, as the nightly


@dag(
    dag_id="credit_model_training",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 5 2 * *", timezone=BUSINESS_TIME_ZONE),
        assets=PUBLISHED_MARTS["customer_credit_profile_history"],
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    tags=["credit", "model"],
    doc_md=__doc__,
    params={
        "business_date": Param(None, type=["null", "string"], format="date",
                               description="Train on the history up to this date; empty: all published history."),
    },
)
def credit_model_training():
    @task.short_circuit
    def training_due(params=None) -> dict | None:
        from scoring.model.lifecycle import due_for_dag

        return due_for_dag("training", (params or {}).get("business_date"))

    @task(outlets=[MODEL_REGISTRY])
    def train(decision: dict) -> dict:
        from datetime import date

        from airflow.sdk.exceptions import AirflowSkipException

        from scoring.model.lifecycle import retrain

        result = retrain(date.fromisoformat(decision["as_of_date"]))
        if result["status"] != "trained":
            # a young warehouse: not a failure, and no new models to announce
            raise AirflowSkipException(f"no model trained: {result['reason']}")
        return result

    train(training_due())


credit_model_training()
