"""Run the dbt project against the warehouse, in-process, with the profile filled from the
warehouse connection (``dbt_project/profiles.yml`` reads ``CREDIT_DW_DBT_*`` variables).

Each node's outcome (status, timing, rows affected) is stored in ``ops.dbt_node_runs`` under the
pipeline run and stage that built it: the per-model view of a night (docs/decisions.md says why
this replaces one Airflow task per model).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date

from credit_dw import warehouse
from credit_dw.settings import DBT_PROJECT_DIR, get_settings


class DbtBuildFailed(Exception):
    """A model or a blocking dbt test failed; the message names them."""


NODE_RUNS_DDL = """
create schema if not exists ops;
create table if not exists ops.dbt_node_runs (
    run_id text not null,
    stage text not null,
    unique_id text not null,
    resource_type text not null,
    name text not null,
    status text not null,
    started_at timestamptz,
    completed_at timestamptz,
    seconds numeric(12, 3),
    rows_affected bigint,
    failures integer,
    message text,
    primary key (run_id, stage, unique_id)
);
"""


@dataclass
class DbtBuildResult:
    models_built: int = 0
    tests_passed: int = 0
    rows_affected: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "models_built": self.models_built,
            "tests_passed": self.tests_passed,
            "rows_affected": self.rows_affected,
            "warnings": self.warnings,
            "failures": self.failures,
        }


# The Airflow connection the nightly's dbt tasks take their profile from (credit_dw.orchestrator
# defines it from the warehouse settings unless the deployment defines it itself).
WAREHOUSE_CONN_ID = "credit_dw_warehouse"


def warehouse_connection(database_url: str) -> str:
    """The warehouse as an Airflow connection in JSON (it keeps a socket directory as the host,
    which the URI form cannot)."""
    parts = warehouse.connection_parts(database_url)
    return json.dumps({"conn_type": "postgres", "host": parts["host"], "port": int(parts["port"]),
                       "login": parts["user"], "password": parts["password"], "schema": parts["dbname"]})


def profile_env_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> dict[str, str] | None:
    """The ``CREDIT_DW_DBT_*`` variables from the Airflow connection, or None when Airflow has none."""
    try:
        from airflow.sdk import Connection

        connection = Connection.get(conn_id)
    except Exception:  # not defined (AirflowNotFoundException), or no Airflow around: use the settings
        return None
    return _profile_variables(host=connection.host or "localhost", port=str(connection.port or 5432),
                              user=connection.login or "", password=connection.password or "",
                              dbname=connection.schema or "")


def profile_env(database_url: str) -> dict[str, str]:
    """The ``CREDIT_DW_DBT_*`` variables ``profiles.yml`` reads, for this warehouse URL."""
    return _profile_variables(**warehouse.connection_parts(database_url))


def _profile_variables(*, host: str, port: str, user: str, password: str, dbname: str) -> dict[str, str]:
    return {"CREDIT_DW_DBT_HOST": host, "CREDIT_DW_DBT_PORT": port, "CREDIT_DW_DBT_USER": user,
            "CREDIT_DW_DBT_PASSWORD": password, "CREDIT_DW_DBT_DBNAME": dbname}


def _first_batch_loaded_by(database_url: str, run_id: str) -> int | None:
    """The first load batch a pipeline run loaded (None: it loaded none, or no manifest yet)."""
    with warehouse.connect(database_url) as conn:
        if conn.execute("select to_regclass('raw.load_manifest')").fetchone()[0] is None:
            return None
        return conn.execute(
            "select min(batch_id) from raw.load_manifest where run_id = %s and status = 'loaded'", (run_id,)
        ).fetchone()[0]


def build(
    as_of_date: date,
    *,
    database_url: str | None = None,
    select: str | None = None,
    exclude: str | None = None,
    marts_schema: str | None = None,
    run_id: str | None = None,
    stage: str = "dbt",
) -> DbtBuildResult:
    """``dbt build`` (models, data tests, snapshots, seeds; not unit tests) for one business date;
    marts go to ``marts_schema`` when given (the pipeline's private build schema), else to
    ``marts``. With a ``run_id`` every node's outcome is stored in ``ops.dbt_node_runs``."""
    from dbt.cli.main import (
        dbtRunner,  # imported here: dbt is slow to import and DAG parsing must stay fast
    )

    # An explicit URL wins (tests, benchmarks); else the Airflow connection, as a deployment
    # manages it; else the settings.
    from_connection = None if database_url else profile_env_from_connection()
    database_url = database_url or warehouse.database_url()
    os.environ.update(from_connection or profile_env(database_url))
    state_dir = get_settings().home / "dbt"
    variables: dict[str, object] = {"as_of_date": as_of_date.isoformat()}
    if marts_schema:
        variables["marts_schema"] = marts_schema
    first_batch = _first_batch_loaded_by(database_url, run_id) if run_id else None
    if first_batch is not None:
        variables["tests_from_batch"] = first_batch  # staging's tests check this run's rows
    args = [
        "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(state_dir / "target"),
        "--log-path", str(state_dir / "logs"),
        "--vars", json.dumps(variables),
        "--no-use-colors",
        "--quiet",
        # Unit tests check the models' SQL on fixed rows, not the night's data: CI runs them
        # (tests/test_marts.py), the nightly does not pay for them.
        "--exclude-resource-type", "unit_test",
    ]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    if select or exclude:
        # A test runs with the part that contains all its parents (or their ancestors): staging's
        # own tests with staging, a mart's relationship to a staging model with the marts.
        args += ["--indirect-selection", "buildable"]
    outcome = dbtRunner().invoke(args)
    result = DbtBuildResult()
    if outcome.exception is not None:
        # Not a data problem (connection lost, server restarting…): a retry may succeed.
        raise RuntimeError(f"dbt could not run: {outcome.exception}")
    node_results = list(outcome.result or [])
    if run_id is not None:
        record_node_runs(database_url, run_id, stage, node_results)
    for node_result in node_results:
        node = node_result.node
        status = str(node_result.status)
        label = f"{node.resource_type} {node.name}"
        result.rows_affected += _rows_affected(node_result) or 0
        if status in {"success", "pass"}:
            if node.resource_type == "model":
                result.models_built += 1
            elif node.resource_type == "test":
                result.tests_passed += 1
        elif status == "warn":
            result.warnings.append(f"{label}: {node_result.message}")
        elif status not in {"skipped", "no-op"}:  # exposures and disabled nodes do nothing
            result.failures.append(f"{label}: {status}: {node_result.message}")
    if not outcome.success or result.failures:
        detail = "\n".join(f"- {line}" for line in result.failures) or "- see the dbt log"
        raise DbtBuildFailed(f"dbt build failed for {as_of_date}:\n{detail}")
    return result


def _rows_affected(node_result) -> int | None:
    # PostgreSQL reports rows for inserts/updates/merges; a "create table as" or a view reports
    # none (-1 or absent), which is not zero rows. A test's count is of its query's result, not
    # of rows written.
    if str(node_result.node.resource_type) not in {"model", "snapshot", "seed"}:
        return None
    rows = (node_result.adapter_response or {}).get("rows_affected")
    return rows if isinstance(rows, int) and rows >= 0 else None


def record_node_runs(database_url: str, run_id: str, stage: str, node_results: list) -> None:
    """Replace the nodes this stage recorded for the run (a retry rebuilds them all)."""
    rows = []
    for node_result in node_results:
        node = node_result.node
        timing = {item.name: item for item in node_result.timing or []}
        execute = timing.get("execute")
        failures = node_result.failures if isinstance(node_result.failures, int) else None
        rows.append((
            run_id, stage, node.unique_id, str(node.resource_type), node.name, str(node_result.status),
            execute.started_at if execute else None, execute.completed_at if execute else None,
            round(node_result.execution_time or 0, 3), _rows_affected(node_result), failures,
            node_result.message,
        ))
    with warehouse.connect(database_url) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('ops.dbt_node_runs'))")
        conn.execute(NODE_RUNS_DDL)
        conn.execute("delete from ops.dbt_node_runs where run_id = %s and stage = %s", (run_id, stage))
        conn.cursor().executemany(
            """insert into ops.dbt_node_runs (run_id, stage, unique_id, resource_type, name, status, started_at,
                                              completed_at, seconds, rows_affected, failures, message)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (run_id, stage, unique_id) do nothing""",
            rows,
        )
