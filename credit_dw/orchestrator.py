"""Airflow as the project runs it: environment, metadata database, and in-process DAG runs.

Airflow reads its configuration when it is first imported, so ``configure_airflow_environment``
must run before anything imports ``airflow``; this module imports it only inside functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from credit_dw import pipeline, warehouse
from credit_dw.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

NIGHTLY_DAG_ID = "credit_nightly"
# The nightly run starts at 02:00 on the day after the business date it closes.
NIGHTLY_RUN_TIME = time(2, 0)


@dataclass(frozen=True)
class DagRunOutcome:
    dag_id: str
    run_id: str
    state: str
    failed_tasks: list[str]

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


# Marks the warehouse connection as the one derived from the settings (not the deployment's own).
EXPORTED_WAREHOUSE_CONN = "_CREDIT_DW_WAREHOUSE_CONNECTION_FROM_SETTINGS"


def airflow_environment(settings: Settings | None = None) -> dict[str, str]:
    """The variables Airflow needs to run this project's DAGs against this warehouse."""
    from credit_dw.dbt import WAREHOUSE_CONN_ID, warehouse_connection
    from credit_dw.notify import SMTP_CONN_ID, smtp_connection

    settings = settings or get_settings()
    # The mail server of the CREDIT_DW_SMTP_* settings, as the Airflow connection notifications use.
    connections = {f"AIRFLOW_CONN_{SMTP_CONN_ID.upper()}": smtp_connection(settings)} if settings.smtp_host else {}
    # The warehouse as the Airflow connection dbt's profile comes from, unless the deployment set its
    # own. A value exported here is the settings' and follows them: it is marked so, and the mark
    # travels with the environment into child processes (`credit-dw nightly` run by another program).
    warehouse_conn = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"
    if os.environ.get(warehouse_conn) in (None, os.environ.get(EXPORTED_WAREHOUSE_CONN)):
        value = warehouse_connection(warehouse.database_url(settings))
        connections[warehouse_conn] = connections[EXPORTED_WAREHOUSE_CONN] = value
    return {
        **connections,
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(PROJECT_ROOT)),
        "AIRFLOW_CONFIG": str(PROJECT_ROOT / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": warehouse.sqlalchemy_url(warehouse.airflow_database_url(settings)),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.home / "airflow" / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
            settings.home / "airflow" / "logs" / "dag_processor"
        ),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.timezone,
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }


def configure_airflow_environment(settings: Settings | None = None) -> None:
    os.environ.update(airflow_environment(settings))


def run_stage(stage_function, *args, **kwargs):
    """Run a pipeline stage inside an Airflow task: errors in the data fail the task at once
    (AirflowFailException: no retry can fix a malformed file); anything else, such as a lost
    connection, is raised as is so that Airflow retries with backoff."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from credit_dw.pipeline import data_errors, task_attempt

    ti = get_current_context()["ti"]
    try:
        # The stage records which task and attempt ran it (retries are run metrics).
        with task_attempt(ti.task_id, ti.try_number):
            return stage_function(*args, **kwargs)
    except data_errors() as problem:
        raise AirflowFailException(str(problem)) from problem


def migrate_metadata_database() -> None:
    """Bring Airflow's metadata schema up to date (a no-op when it already is)."""
    from airflow.utils import db

    try:
        db.check_migrations(timeout=1)
    except TimeoutError:
        log.info("migrating Airflow's metadata database")
        db.upgradedb()


def logical_date_for(business_date: date, settings: Settings | None = None) -> datetime:
    """The logical date of the scheduled run that closes ``business_date``."""
    zone = ZoneInfo((settings or get_settings()).timezone)
    return datetime.combine(business_date + timedelta(days=1), NIGHTLY_RUN_TIME, tzinfo=zone)


def run_dag_in_process(dag_id: str, business_date: date) -> DagRunOutcome:
    """Run a whole DAG for one business date in this process (``dag.test``), as a scheduled run would.

    The nightly holds the warehouse's run lock meanwhile: a second ``credit-dw nightly`` or
    ``backfill`` started during it raises ``pipeline.RunInProgress`` before touching anything."""
    lock = pipeline.run_lock(business_date) if dag_id == NIGHTLY_DAG_ID else contextlib.nullcontext()
    with lock:
        return _run_dag(dag_id, business_date)


def _run_dag(dag_id: str, business_date: date) -> DagRunOutcome:
    configure_airflow_environment()
    from airflow.dag_processing.dagbag import DagBag

    migrate_metadata_database()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        problems = "\n".join(f"- {path}: {error}" for path, error in bag.import_errors.items())
        raise RuntimeError(f"DAG files failed to import:\n{problems}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise KeyError(f"no DAG named {dag_id} in {PROJECT_ROOT / 'dags'}")
    dag_run = dag.test(
        logical_date=logical_date_for(business_date),
        run_conf={"business_date": business_date.isoformat()},
    )
    failed = sorted(ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed")
    return DagRunOutcome(dag_id, dag_run.run_id, str(dag_run.state), failed)
