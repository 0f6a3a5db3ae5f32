"""Model monitoring tables, refreshed by every scoring run:

- ``scoring.model_monitoring``: PSI of every model feature (over the model's bins) and of the score
  (over the training score deciles), actual population against the training sample;
- ``scoring.rating_migration``: customers per (grade on the previous scoring date, grade now);
- ``scoring.pd_backtest`` (sample ``scores``): on month-ends, for every earlier month-end scored by
  the model with at least 90 days of outcome since, predicted vs observed default rate per grade.
  The predicted PD is the 12-month PD scaled to the outcome window observed so far (constant
  hazard), so the two columns compare like with like until the window is complete.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
from psycopg import sql

from scoring.model.metrics import psi, psi_status
from scoring.model.pd_model import PDModel
from scoring.model.sample import MIN_OUTCOME_DAYS, OUTCOME_WINDOW_DAYS, event_sources, events_query

SCORE_FEATURE = "(score)"


def psi_rows(model: PDModel, X: pd.DataFrame, points: np.ndarray) -> list[dict]:
    rows = []
    for b in model.bins:
        values = X[b.name].to_numpy() if b.name in X else np.full(len(X), np.nan)
        actual = np.bincount(b.bin_index(values), minlength=len(b.labels)).astype(float)
        value = psi(b.counts, actual)
        rows.append({"feature": b.name, "value": value, "status": psi_status(value), "details": {
            "bins": b.labels, "expected": np.round(b.shares, 6).tolist(),
            "actual": np.round(actual / max(actual.sum(), 1), 6).tolist()}})
    if len(model.score_shares):
        actual = model.score_distribution(points)
        value = psi(model.score_shares, actual)
        edges = [round(float(e), 2) for e in model.score_edges]
        rows.append({"feature": SCORE_FEATURE, "value": value, "status": psi_status(value), "details": {
            "edges": edges, "expected": np.round(model.score_shares, 6).tolist(),
            "actual": np.round(actual / max(actual.sum(), 1), 6).tolist()}})
    return rows


def store_psi(conn, version: str, as_of_date: date, rows: list[dict], run_id: str | None) -> None:
    conn.execute("delete from scoring.model_monitoring where as_of_date = %s and model_version = %s and metric = 'psi'",
                 (as_of_date, version))
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into scoring.model_monitoring (as_of_date, model_version, metric, feature, value, status,
               details, run_id) values (%s, %s, 'psi', %s, %s, %s, %s, %s)""",
            [(as_of_date, version, r["feature"], None if np.isnan(r["value"]) else r["value"], r["status"],
              json.dumps(r["details"]), run_id) for r in rows],
        )


def store_migration(conn, version: str, as_of_date: date) -> date | None:
    """Grade migration from the model's previous scoring date to ``as_of_date``; returns that date."""
    previous = conn.execute(
        """select max(as_of_date) from scoring.customer_scores where model_version = %s and as_of_date < %s""",
        (version, as_of_date)).fetchone()[0]
    conn.execute("delete from scoring.rating_migration where to_date = %s and model_version = %s",
                 (as_of_date, version))
    if previous is None:
        return None
    conn.execute(
        """insert into scoring.rating_migration (from_date, to_date, model_version, from_grade, to_grade, customers)
           select %(previous)s, %(today)s, %(version)s, before.grade, now.grade, count(*)
           from scoring.customer_scores as before
           inner join scoring.customer_scores as now
               on now.customer_id = before.customer_id and now.model_version = before.model_version
           where before.model_version = %(version)s and before.as_of_date = %(previous)s
             and now.as_of_date = %(today)s
           group by before.grade, now.grade""",
        {"previous": previous, "today": as_of_date, "version": version})
    return previous


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def store_score_backtest(conn, version: str, as_of_date: date) -> int:
    """Back-test the model's month-end scores with ≥ 90 days of outcome; returns the dates done."""
    dates = [row[0] for row in conn.execute(
        """select distinct as_of_date from scoring.customer_scores
           where model_version = %s and as_of_date <= %s and as_of_date >= %s""",
        (version, as_of_date - timedelta(days=MIN_OUTCOME_DAYS),
         as_of_date - timedelta(days=OUTCOME_WINDOW_DAYS))) if is_month_end(row[0])]
    if not dates:
        return 0
    sources = event_sources(conn)
    query = sql.SQL("""
        with scored as (
            select as_of_date, customer_id, grade, pd from scoring.customer_scores
            where model_version = {version} and as_of_date = any({dates}) and not is_in_default
        ),
        events as ({events}),
        defaulted as (
            select distinct scored.as_of_date, scored.customer_id
            from scored
            inner join events
                on events.customer_id = scored.customer_id
                and events.event_date > scored.as_of_date
                and events.event_date <= least(scored.as_of_date + {window}, {today}::date)
        )
        select scored.as_of_date, scored.grade, count(*) as customers,
               count(defaulted.customer_id) as defaults,
               avg(1 - power(1 - scored.pd, least({window}, {today}::date - scored.as_of_date)::float8 / {window}))
                   as predicted_pd,
               count(defaulted.customer_id)::float8 / count(*) as observed_default_rate,
               least({window}, {today}::date - scored.as_of_date) as outcome_days
        from scored
        left join defaulted
            on defaulted.as_of_date = scored.as_of_date and defaulted.customer_id = scored.customer_id
        group by scored.as_of_date, scored.grade
    """).format(version=sql.Literal(version), dates=sql.Literal(dates), events=events_query(sources),
                window=sql.Literal(OUTCOME_WINDOW_DAYS), today=sql.Literal(as_of_date))
    rows = conn.execute(query).fetchall()
    conn.execute("delete from scoring.pd_backtest where model_version = %s and sample = 'scores' "
                 "and observation_date = any(%s)", (version, dates))
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into scoring.pd_backtest (model_version, sample, observation_date, grade, customers, defaults,
               predicted_pd, observed_default_rate, outcome_days) values (%s, 'scores', %s, %s, %s, %s, %s, %s, %s)""",
            [(version, *row) for row in rows])
    return len(dates)


def monitor(conn, model: PDModel, version: str, as_of_date: date, X: pd.DataFrame, points: np.ndarray,
            run_id: str | None = None) -> dict:
    rows = psi_rows(model, X, points)
    store_psi(conn, version, as_of_date, rows, run_id)
    previous = store_migration(conn, version, as_of_date)
    backtested = store_score_backtest(conn, version, as_of_date) if is_month_end(as_of_date) else 0
    score_psi = next((r for r in rows if r["feature"] == SCORE_FEATURE), None)
    shifted = sorted(r["feature"] for r in rows if r["status"] == "shifted")
    return {
        "score_psi": None if score_psi is None else round(score_psi["value"], 4),
        "score_psi_status": None if score_psi is None else score_psi["status"],
        "shifted_features": shifted,
        "migration_from": None if previous is None else previous.isoformat(),
        "backtested_dates": backtested,
    }
