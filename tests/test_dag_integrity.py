"""Every DAG file imports cleanly, and credit_nightly is wired as documented."""

from pathlib import Path

import pytest

from credit_dw.marts import published_marts

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_file_imports_without_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert dag_bag.dag_ids, "no DAG found"


def test_credit_nightly_runs_the_stages_in_order(dag_bag):
    dag = dag_bag.dags["credit_nightly"]
    assert dag is not None
    order = ["resolve_business_date", "load.ingest", "load.quality_gate", "transform.build_staging",
             "transform.resolve_entities", "transform.build_marts", "transform.publish", "score.score_pd",
             "score.decide", "score.report"]
    assert "score.notify" in dag.get_task("score.decide").downstream_task_ids
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_credit_nightly_runs_at_two_in_the_business_time_zone(dag_bag):
    timetable = dag_bag.dags["credit_nightly"].timetable
    assert timetable.summary == "0 2 * * *"
    assert str(timetable._timezone) in {"Asia/Shanghai", "Timezone('Asia/Shanghai')"}


def test_tasks_retry_with_backoff_and_publish_assets(dag_bag):
    dag = dag_bag.dags["credit_nightly"]
    ingest = dag.get_task("load.ingest")
    assert ingest.retries >= 1 and ingest.retry_exponential_backoff
    assert {asset.name for asset in ingest.outlets} == {"credit_dw.raw.bank", "credit_dw.raw.bureau",
                                                         "credit_dw.raw.crm", "credit_dw.raw.erp"}
    published = {asset.name for asset in dag.get_task("transform.publish").outlets}
    assert published == {f"credit_dw.marts.{model.name}" for model in published_marts()}
    assert {"credit_dw.marts.fct_credit_exposure_daily", "credit_dw.marts.dim_customers"} <= published


def test_a_task_that_fails_for_good_notifies(dag_bag):
    from credit_dw.notify import task_failed

    dag = dag_bag.dags["credit_nightly"]
    for task in dag.tasks:
        assert task_failed in (task.on_failure_callback or []) or task.on_failure_callback is task_failed, task.task_id


def test_the_quality_summary_runs_after_the_checks_whatever_their_outcome(dag_bag):
    dag = dag_bag.dags["credit_nightly"]
    summary = dag.get_task("quality_summary")
    assert summary.trigger_rule == "all_done"
    assert "transform.publish" in summary.upstream_task_ids
    assert "quality_summary" in dag.get_task("transform.publish").downstream_task_ids
