"""The PD model's life between nightly runs: monthly (re)training and weekly monitoring.

The two Airflow DAGs ``credit_model_training`` and ``credit_model_monitoring`` only wire these
functions; both are triggered by data (assets the nightly run emits) as well as by the clock, so each
starts with a check of whether the data holds something new enough to act on:

- training is due when the published credit profile history holds a month-end that no registered
  model has seen (its ``data_end`` is earlier): about once a month, whatever triggered the run;
- monitoring is due when the newest scores are a week newer than the last monitoring report, or the
  active model changed since that report.

A retraining never replaces the active model by itself: with an active model, the new scorecard is
scored in shadow beside it (the previous shadow retired) until someone promotes it
(``credit-dw model promote``) on the evidence of the monitoring reports. With no active model at all
(a new warehouse), the new scorecard is activated and its challenger scored in shadow, as the
nightly scoring does when it finds no model (``bootstrap``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from psycopg import sql

from credit_dw import warehouse
from scoring.model import registry
from scoring.model.metrics import discrimination
from scoring.model.sample import HISTORY_TABLE, MIN_OUTCOME_DAYS, OUTCOME_WINDOW_DAYS, event_sources, events_query

log = logging.getLogger(__name__)

MONITORING_INTERVAL_DAYS = 7
# Out-of-time AUC this much below the model's validation AUC is reported as degraded discrimination.
AUC_DEGRADATION = 0.05

REPORTS_DDL = """
create schema if not exists scoring;
create table if not exists scoring.model_monitoring_reports (
    as_of_date date not null,
    model_version text not null,
    role text not null check (role in ('active', 'shadow')),
    status text not null check (status in ('ok', 'watch', 'action')),
    findings jsonb not null,
    metrics jsonb not null,
    run_id text,
    reported_at timestamptz not null default now(),
    primary key (as_of_date, model_version)
);
"""


@dataclass(frozen=True)
class Due:
    """Whether a DAG's work is due on ``as_of_date`` and why (or why not)."""

    is_due: bool
    as_of_date: date | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"is_due": self.is_due, "as_of_date": None if self.as_of_date is None else self.as_of_date.isoformat(),
                "reason": self.reason}


def _relation_exists(conn, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0] is not None


def training_due(as_of: date | None = None, *, database_url: str | None = None) -> Due:
    """Due when the profile history holds a month-end (on or before ``as_of``) newer than every
    registered model's data end."""
    with warehouse.connect(database_url) as conn:
        if not _relation_exists(conn, *HISTORY_TABLE):
            return Due(False, as_of, "no credit profile history published yet")
        newest = conn.execute(sql.SQL("select max(as_of_date) from {} where as_of_date <= coalesce(%s, 'infinity')")
                              .format(sql.Identifier(*HISTORY_TABLE)), (as_of,)).fetchone()[0]
        if newest is None:
            return Due(False, as_of, "the credit profile history has no month-end yet")
        registry.ensure_schema(conn)
        seen = conn.execute("select max(data_end) from scoring.model_registry").fetchone()[0]
    if seen is not None and seen >= newest:
        return Due(False, newest, f"no new month-end: the newest ({newest}) is already in the model trained on "
                                  f"data up to {seen}")
    return Due(True, newest, f"month-end {newest} is newer than every model's data ({seen or 'no model yet'})")


@contextmanager
def _training_lock(database_url: str | None):
    """One training at a time: the nightly's first-model bootstrap and the training DAG, both started
    by the same publication, must not both activate a model."""
    with warehouse.connect(database_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('scoring.model_training'))")
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('scoring.model_training'))")


def _has_active(database_url: str | None) -> bool:
    with warehouse.connect(database_url) as conn:
        return bool(registry.models(conn, status="active"))


def bootstrap(as_of_date: date | None, *, database_url: str | None = None) -> dict:
    """Train on the history up to ``as_of_date`` and make the scorecard active, its challenger shadow
    (for a warehouse with no active model; ``already_active`` when another run got there first)."""
    with _training_lock(database_url):
        if _has_active(database_url):
            return {"status": "already_active", "models": None}
        return _train_and_place(as_of_date, database_url, has_active=False)


def retrain(as_of_date: date | None = None, *, database_url: str | None = None) -> dict:
    """The monthly training: new candidates from the history up to ``as_of_date``; the new scorecard
    goes to shadow beside the active model (or becomes active when there is none)."""
    with _training_lock(database_url):
        return _train_and_place(as_of_date, database_url, has_active=_has_active(database_url))


def _train_and_place(as_of_date: date | None, database_url: str | None, *, has_active: bool) -> dict:
    """Train (under the training lock) and give the new models their status: with no active model the
    scorecard is activated and its challenger shadowed; otherwise the scorecard replaces the shadows."""
    from scoring.model.train import train_models

    result = train_models(as_of_date, database_url=database_url)
    if result.status != "trained":
        return {"status": "no_model", "reason": result.reason}
    versions = {m["model_type"]: m["model_version"] for m in result.models}
    summary = {"status": "trained", "models": versions,
               "validation": {m["model_type"]: m["validation"].get("auc") for m in result.models}}
    scorecard = versions["scorecard"]
    if not has_active:
        registry.set_status(scorecard, "active", database_url=database_url,
                            note=f"activated automatically on {as_of_date}: there was no active model")
        if "gbm" in versions:
            registry.set_status(versions["gbm"], "shadow", database_url=database_url,
                                note=f"challenger trained with {scorecard}, scored in shadow")
        return {**summary, "activated": scorecard}
    with warehouse.connect(database_url) as conn:
        previous_shadows = [m.model_version for m in registry.models(conn, status="shadow")]
    for version in previous_shadows:
        registry.set_status(version, "retired", database_url=database_url, note=f"replaced in shadow by {scorecard}")
    registry.set_status(scorecard, "shadow", database_url=database_url,
                        note=f"monthly retraining on data up to {as_of_date}: in shadow until promoted")
    return {**summary, "shadow": scorecard, "retired": previous_shadows}


def _active_version(conn) -> str | None:
    active = registry.models(conn, status="active")
    return active[0].model_version if active else None


def monitoring_due(as_of: date | None = None, *, database_url: str | None = None) -> Due:
    """Due when the newest scores (on or before ``as_of``) are a week newer than the last report, or
    the active model changed since it."""
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        ensure_reports(conn)
        newest = conn.execute("select max(as_of_date) from scoring.customer_scores "
                              "where as_of_date <= coalesce(%s, 'infinity')", (as_of,)).fetchone()[0]
        if newest is None:
            return Due(False, as_of, "no scores yet: nothing to monitor")
        last = conn.execute("select max(as_of_date) from scoring.model_monitoring_reports").fetchone()[0]
        if last is None:
            return Due(True, newest, "no monitoring report yet")
        reported = {version for (version,) in conn.execute(
            "select model_version from scoring.model_monitoring_reports where as_of_date = %s and role = 'active'",
            (last,))}
        active = _active_version(conn)
    if active is not None and active not in reported and newest > last:
        return Due(True, newest, f"the active model is now {active}, not the one last reported on {last}")
    if newest >= last + timedelta(days=MONITORING_INTERVAL_DAYS):
        return Due(True, newest, f"scores up to {newest}, a week or more after the last report ({last})")
    return Due(False, newest, f"last report {last}; scores up to {newest} are less than "
                              f"{MONITORING_INTERVAL_DAYS} days newer")


def due_for_dag(work: str, requested: str | None) -> dict | None:
    """The DAGs' first task: is ``work`` ("training" or "monitoring") due for the requested business
    date (None: the newest data)? Its decision as a dict, or None to skip the rest of the run."""
    check = {"training": training_due, "monitoring": monitoring_due}[work]
    decision = check(date.fromisoformat(requested) if requested else None)
    log.info("%s: %s", work, decision.reason)
    return decision.as_dict() if decision.is_due else None


def ensure_reports(conn) -> None:
    if not _relation_exists(conn, "scoring", "model_monitoring_reports"):
        conn.execute(REPORTS_DDL)


def matured_discrimination(conn, version: str, as_of_date: date) -> dict:
    """AUC, Gini and KS of the model's month-end scores with at least 90 days of outcome by
    ``as_of_date`` (customers performing on the scoring date; default events after it)."""
    query = sql.SQL("""
        with scored as (
            select as_of_date, customer_id, pd from scoring.customer_scores
            where model_version = {version} and not is_in_default
              and as_of_date <= {latest} and as_of_date >= {earliest}
              and extract(day from as_of_date + 1) = 1
        ),
        events as ({events})
        select scored.pd, exists (
            select 1 from events
            where events.customer_id = scored.customer_id and events.event_date > scored.as_of_date
              and events.event_date <= least(scored.as_of_date + {window}, {today})
        ) as defaulted
        from scored
    """).format(version=sql.Literal(version), latest=sql.Literal(as_of_date - timedelta(days=MIN_OUTCOME_DAYS)),
                earliest=sql.Literal(as_of_date - timedelta(days=OUTCOME_WINDOW_DAYS)),
                events=events_query(event_sources(conn)), window=sql.Literal(OUTCOME_WINDOW_DAYS),
                today=sql.Literal(as_of_date))
    rows = conn.execute(query).fetchall()
    if not rows:
        return {"rows": 0}
    pds = np.array([r[0] for r in rows], dtype=float)
    labels = np.array([r[1] for r in rows], dtype=np.int8)
    out: dict[str, Any] = {"rows": int(len(rows)), "defaults": int(labels.sum())}
    if 0 < labels.sum() < len(labels):
        out.update({key: round(value, 4) for key, value in discrimination(labels, pds).items()})
    return out


def _model_findings(conn, record: registry.RegisteredModel, as_of_date: date) -> tuple[str, list[str], dict]:
    psi = conn.execute(
        """select feature, value, status from scoring.model_monitoring
           where model_version = %s and metric = 'psi'
             and as_of_date = (select max(as_of_date) from scoring.model_monitoring
                               where model_version = %s and as_of_date <= %s)""",
        (record.model_version, record.model_version, as_of_date)).fetchall()
    score_psi = next(((value, status) for feature, value, status in psi if feature == "(score)"), (None, None))
    shifted = sorted(feature for feature, _, status in psi if status == "shifted" and feature != "(score)")
    watched = sorted(feature for feature, _, status in psi if status == "watch" and feature != "(score)")
    scored_on = conn.execute("select max(as_of_date) from scoring.customer_scores where model_version = %s "
                             "and as_of_date <= %s", (record.model_version, as_of_date)).fetchone()[0]
    matured = matured_discrimination(conn, record.model_version, as_of_date)
    validation_auc = (record.metrics.get("validation") or {}).get("auc")
    findings: list[str] = []
    status = "ok"
    if scored_on is None:
        findings.append("not scored on or before this date")
        status = "watch"
    if score_psi[1] == "shifted" or shifted:
        findings.append(f"population shifted: score PSI {score_psi[0] and round(score_psi[0], 4)}"
                        + (f", features {', '.join(shifted)}" if shifted else "") + ": retrain")
        status = "action"
    elif score_psi[1] == "watch" or watched:
        findings.append("population drifting (PSI 0.1-0.25)" + (f": {', '.join(watched)}" if watched else ""))
        status = "watch"
    if "auc" in matured and validation_auc is not None and matured["auc"] < validation_auc - AUC_DEGRADATION:
        findings.append(f"discrimination degraded: AUC {matured['auc']} on matured scores against "
                        f"{round(validation_auc, 4)} at validation")
        status = "action"
    metrics = {"scored_on": None if scored_on is None else scored_on.isoformat(),
               "score_psi": score_psi[0], "score_psi_status": score_psi[1], "shifted_features": shifted,
               "watch_features": watched, "validation_auc": validation_auc, "matured_scores": matured}
    return status, findings, metrics


def weekly_monitoring(as_of_date: date, *, database_url: str | None = None, run_id: str | None = None) -> dict:
    """One monitoring report per active and shadow model, stored in ``scoring.model_monitoring_reports``
    (idempotent per date): population stability, discrimination on matured scores, and whether the
    shadow model discriminates better than the active one."""
    reports = []
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        ensure_reports(conn)
        records = registry.models(conn, status="active") + registry.models(conn, status="shadow")
        for record in records:
            status, findings, metrics = _model_findings(conn, record, as_of_date)
            reports.append({"model_version": record.model_version, "role": record.status, "status": status,
                            "findings": findings, "metrics": metrics})
        active = next((r for r in reports if r["role"] == "active"), None)
        active_auc = active and active["metrics"]["matured_scores"].get("auc")
        for report in reports:
            auc = report["metrics"]["matured_scores"].get("auc")
            if report["role"] == "shadow" and active_auc is not None and auc is not None and auc > active_auc:
                report["findings"].append(f"discriminates better than the active model on matured scores "
                                          f"(AUC {auc} vs {active_auc}): consider promoting it")
        conn.execute("delete from scoring.model_monitoring_reports where as_of_date = %s", (as_of_date,))
        with conn.cursor() as cursor:
            cursor.executemany(
                """insert into scoring.model_monitoring_reports
                   (as_of_date, model_version, role, status, findings, metrics, run_id)
                   values (%s, %s, %s, %s, %s, %s, %s)""",
                [(as_of_date, r["model_version"], r["role"], r["status"], _json(r["findings"]), _json(r["metrics"]),
                  run_id) for r in reports])
    return {"as_of_date": as_of_date.isoformat(), "models": reports,
            "status": max((r["status"] for r in reports), key=["ok", "watch", "action"].index, default="ok")}


def _json(value) -> str:
    import json

    return json.dumps(value, default=str)
