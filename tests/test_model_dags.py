"""The model DAGs: monthly training and weekly monitoring, scheduled on the nightly's assets as well as
the clock; each really run in process (``dag.test``) on a small synthetic warehouse history."""

from __future__ import annotations

import ast
from datetime import date, timedelta
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
MODEL_DAGS = ("credit_model_training", "credit_model_monitoring")


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_model_dags_import_and_are_wired_as_documented(dag_bag):
    assert dag_bag.import_errors == {}
    training, monitoring = (dag_bag.dags[dag_id] for dag_id in MODEL_DAGS)
    assert training.get_task("train").upstream_task_ids == {"training_due"}
    assert monitoring.get_task("report").upstream_task_ids == {"monitoring_due"}
    assert [asset.name for asset in training.get_task("train").outlets] == ["credit_dw.scoring.model_registry"]
    for dag in (training, monitoring):
        assert dag.max_active_runs == 1 and dag.catchup is False


def _asset_names(condition) -> set[str]:
    """The asset names an asset or an ``|`` / ``&`` of assets waits for."""
    if hasattr(condition, "objects"):
        return set().union(*(_asset_names(part) for part in condition.objects))
    return {condition.name}


def test_model_dags_run_on_the_nightlys_assets_or_the_clock(dag_bag):
    from airflow.sdk import AssetOrTimeSchedule

    training, monitoring = (dag_bag.dags[dag_id].timetable for dag_id in MODEL_DAGS)
    for timetable in (training, monitoring):
        assert isinstance(timetable, AssetOrTimeSchedule)
        assert str(timetable.timetable.timezone) == "Asia/Shanghai"
    assert training.timetable.expression == "0 5 2 * *"  # monthly
    assert monitoring.timetable.expression == "0 6 * * 1"  # weekly
    assert _asset_names(training.asset_condition) == {"credit_dw.marts.customer_credit_profile_history"}
    assert _asset_names(monitoring.asset_condition) == {"credit_dw.scoring.credit_warnings",
                                                        "credit_dw.scoring.model_registry"}


@pytest.mark.parametrize("dag_id", MODEL_DAGS)
def test_model_dag_files_only_wire(dag_id):
    """No SQL, pandas or warehouse access in the DAG file itself: tasks import the work lazily."""
    tree = ast.parse((DAGS_FOLDER / f"{dag_id}.py").read_text(encoding="utf-8"))
    modules = {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert modules <= {"__future__", "pendulum", "airflow", "credit_dw"}


def test_training_then_monitoring_dags_on_a_synthetic_history(fresh_database_url, fresh_settings):
    from credit_dw import warehouse
    from credit_dw.orchestrator import run_dag_in_process
    from scoring.model import registry
    from scoring.model.score import score_customers
    from scoring.model.synthetic import write_warehouse

    fresh_settings(database_url=fresh_database_url)
    written = write_warehouse(fresh_database_url, customers=600, months=13, seed=3)
    data_end = written["data_end"]

    # a month-end no model has seen: the first model is trained and activated
    first = run_dag_in_process("credit_model_training", data_end)
    assert first.succeeded, first
    with warehouse.connect(fresh_database_url) as conn:
        models = registry.models(conn)
    assert sorted((m.model_type, m.status) for m in models) == [("gbm", "shadow"), ("scorecard", "active")]
    assert {m.data_end for m in models} == {data_end}

    # nothing new since: the run succeeds without training
    again = run_dag_in_process("credit_model_training", data_end)
    assert again.succeeded and again.failed_tasks == []
    with warehouse.connect(fresh_database_url) as conn:
        assert len(registry.models(conn)) == 2

    # the next month-end is published: a new scorecard goes to shadow, the active model stays
    next_month_end = date(2026, 11, 30)
    with warehouse.connect(fresh_database_url) as conn:
        conn.execute("""insert into marts.customer_credit_profile_history
                        select (%s::date) as as_of_date, is_month_end, customer_id, currency, open_receivables,
                               open_invoice_count, max_days_past_due, dso_simple, collection_effectiveness_index,
                               share_paid_late_12m, max_days_past_due_12m, utilisation, limit_breach_days_90d,
                               bureau_event_count_365d, bureau_score, registration_status_code, has_write_off,
                               is_in_default
                        from marts.customer_credit_profile_history where as_of_date = %s""",
                     (next_month_end, data_end))
        conn.execute("update marts.fct_invoices set as_of_date = %s", (next_month_end,))
    monthly = run_dag_in_process("credit_model_training", next_month_end)
    assert monthly.succeeded, monthly
    with warehouse.connect(fresh_database_url) as conn:
        after = {m.model_version: m for m in registry.models(conn)}
    before = {m.model_version: m for m in models}
    new = [m for version, m in after.items() if version not in before]
    assert sorted((m.model_type, m.status, m.data_end) for m in new) == [
        ("gbm", "candidate", next_month_end), ("scorecard", "shadow", next_month_end)]
    assert sorted((m.model_type, m.status) for v, m in after.items() if v in before) == [
        ("gbm", "retired"), ("scorecard", "active")]

    new_scorecard = next(m.model_version for m in new if m.model_type == "scorecard")
    score_customers(data_end, database_url=fresh_database_url, run_id="nightly")
    monitored = run_dag_in_process("credit_model_monitoring", data_end)
    assert monitored.succeeded, monitored
    with warehouse.connect(fresh_database_url) as conn:
        reports = conn.execute(
            """select model_version, role, status, metrics from scoring.model_monitoring_reports
               where as_of_date = %s order by role""", (data_end,)).fetchall()
    assert [(role, status in {"ok", "watch", "action"}) for _, role, status, _ in reports] == [
        ("active", True), ("shadow", True)]
    assert reports[1][0] == new_scorecard
    active_metrics = reports[0][3]
    assert active_metrics["scored_on"] == data_end.isoformat()
    assert active_metrics["score_psi_status"] in {"stable", "watch", "shifted"}

    # less than a week of new scores: no new report
    score_customers(data_end + timedelta(days=1), database_url=fresh_database_url, run_id="nightly-2")
    quiet = run_dag_in_process("credit_model_monitoring", data_end + timedelta(days=1))
    assert quiet.succeeded
    with warehouse.connect(fresh_database_url) as conn:
        assert conn.execute("select count(distinct as_of_date) from scoring.model_monitoring_reports"
                            ).fetchone()[0] == 1
