"""Nightly scoring: every active customer with the active PD model, and with each shadow model side
by side, into ``scoring.customer_scores``.

Idempotent per as-of date and model: a re-run replaces that date's rows of each model it scores.
Features are the customer's credit profile known on the as-of date (``marts.customer_credit_profile``,
or the latest month-end of ``marts.customer_credit_profile_history`` on or before it). Customers
whose ERP record is closed are not scored; customers already in default on the date (90+ DPD,
written off, deregistered: the profile's ``is_in_default``) get PD ≈ 1 and the worst grade, with the
model's points and reason codes kept for reference.

With no active model, one is trained from the available history and activated (scorecard active,
challenger shadow), noted in the registry; when the history is too short the summary says
``no_model`` and why, and nothing is written.
"""

from __future__ import annotations

import json
import time
from datetime import date

import numpy as np
import pandas as pd
from psycopg import sql

from credit_dw import warehouse
from scoring.model import registry
from scoring.model.artifact import load_model
from scoring.model.lifecycle import bootstrap
from scoring.model.master_scale import master_scale
from scoring.model.monitor import monitor
from scoring.model.pd_model import PD_CEILING, PDModel
from scoring.model.sample import CURRENT_TABLE, HISTORY_TABLE, read_frame, relation_columns

CLOSED_STATUSES = ("closed", "inactive", "关闭", "停用")
IN_DEFAULT_REASON = {"feature": "is_in_default", "value": True, "bin": "in default on the as-of date",
                     "points_lost": None}


def current_features(conn, as_of_date: date, columns: list[str]) -> tuple[pd.DataFrame, date | None]:
    """The credit profile of every customer known on ``as_of_date`` (closed ERP customers left out)."""
    chosen = None
    for table in (CURRENT_TABLE, HISTORY_TABLE):
        types = relation_columns(conn, *table)
        if not types:
            continue
        day = conn.execute(sql.SQL("select max(as_of_date) from {} where as_of_date <= %s").format(
            sql.Identifier(*table)), (as_of_date,)).fetchone()[0]
        if day is not None and (chosen is None or day > chosen[2]):
            chosen = (table, types, day)
    if chosen is None:
        return pd.DataFrame(columns=["customer_id"]), None
    table, types, day = chosen
    wanted = ["customer_id", *[c for c in columns if c in types and c != "customer_id"]]
    if "is_in_default" in types and "is_in_default" not in wanted:
        wanted.append("is_in_default")
    closed = sql.SQL("")
    if relation_columns(conn, "staging", "stg_erp__customers").get("customer_status"):
        closed = sql.SQL(
            " and not exists (select 1 from staging.stg_erp__customers as erp"
            " where erp.customer_id = profile.customer_id and lower(erp.customer_status) = any({}))"
        ).format(sql.Literal(list(CLOSED_STATUSES)))
    query = sql.SQL("select {cols} from {rel} as profile where as_of_date = {day}{closed} order by customer_id").format(
        cols=sql.SQL(", ").join(sql.SQL("profile.{}").format(sql.Identifier(c)) for c in wanted),
        rel=sql.Identifier(*table), day=sql.Literal(day), closed=closed)
    frame = read_frame(conn, query, {c: types[c] for c in wanted})
    for name in columns:
        if name not in frame:
            frame[name] = np.nan  # a feature the marts no longer have: scored as missing
    return frame, day


def score_frame(model: PDModel, frame: pd.DataFrame) -> pd.DataFrame:
    """pd, grade, points, reason codes (JSON text) and the in-default flag for a frame of profiles."""
    scale = master_scale()
    scored = model.score(frame, reasons_as="json")
    in_default = (frame["is_in_default"].fillna(0).to_numpy() >= 1) if "is_in_default" in frame else \
        np.zeros(len(frame), dtype=bool)
    pd_values = np.where(in_default, PD_CEILING, scored["pd"].to_numpy())
    scored["pd"] = pd_values
    scored["grade"] = scale.grade_of(pd_values)
    scored["is_in_default"] = in_default
    if in_default.any():
        codes = np.array(scored["reason_codes"].to_numpy(dtype=object), dtype=object)  # writable copy
        prefix = json.dumps(IN_DEFAULT_REASON)
        codes[in_default] = ["[" + prefix + (", " + text[1:] if text != "[]" else "]") for text in codes[in_default]]
        scored["reason_codes"] = pd.Series(codes, index=scored.index, dtype=object)
    return scored


def write_scores(conn, as_of_date: date, version: str, is_shadow: bool, customers: pd.Series, scored: pd.DataFrame,
                 features_as_of: date | None, run_id: str | None) -> None:
    conn.execute("delete from scoring.customer_scores where as_of_date = %s and model_version = %s",
                 (as_of_date, version))
    with conn.cursor() as cursor, cursor.copy(
        """copy scoring.customer_scores (as_of_date, customer_id, model_version, is_shadow, pd, grade, points,
           reason_codes, is_in_default, features_as_of, run_id) from stdin"""
    ) as copy:
        for customer, pd_value, grade, points, codes, in_default in zip(
            customers, scored["pd"].to_numpy(), scored["grade"].to_numpy(), scored["points"].to_numpy(),
            scored["reason_codes"], scored["is_in_default"].to_numpy(), strict=True,
        ):
            copy.write_row((as_of_date, customer, version, is_shadow, float(pd_value), int(grade), float(points),
                            codes, bool(in_default), features_as_of, run_id))


def score_customers(as_of_date: date, *, database_url: str | None = None, run_id: str | None = None) -> dict:
    """Score every active customer on ``as_of_date`` with the active model and the shadow models."""
    started = time.perf_counter()
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        has_active = bool(registry.models(conn, status="active"))
    trained = None
    if not has_active:
        trained = bootstrap(as_of_date, database_url=database_url)
        if trained["status"] == "no_model":
            return {"as_of_date": as_of_date.isoformat(), "status": "no_model", "reason": trained["reason"],
                    "customers": 0, "models": []}
    summaries = []
    with warehouse.connect(database_url) as conn:
        records = registry.models(conn, status="active") + registry.models(conn, status="shadow")
        loaded = [(record, load_model(record.artifact_path, record.artifact_sha256)) for record in records]
        columns = sorted({name for _, model in loaded for name in model.features})
        read_started = time.perf_counter()
        frame, features_as_of = current_features(conn, as_of_date, columns)
        read_seconds = time.perf_counter() - read_started
        if frame.empty:
            return {"as_of_date": as_of_date.isoformat(), "status": "no_customers", "customers": 0,
                    "reason": "no credit profile known on or before this date", "models": [],
                    "trained": trained and trained.get("models")}
        for record, model in loaded:
            marks = [time.perf_counter()]
            scored = score_frame(model, frame)
            marks.append(time.perf_counter())
            is_shadow = record.status == "shadow"
            write_scores(conn, as_of_date, record.model_version, is_shadow, frame["customer_id"], scored,
                         features_as_of, run_id)
            marks.append(time.perf_counter())
            monitoring = monitor(conn, model, record.model_version, as_of_date, frame, scored["points"].to_numpy(),
                                 run_id)
            marks.append(time.perf_counter())
            grades = scored["grade"].value_counts().sort_index()
            summaries.append({
                "model_version": record.model_version, "model_type": record.model_type, "is_shadow": is_shadow,
                "customers": int(len(scored)), "in_default": int(scored["is_in_default"].sum()),
                "mean_pd": round(float(scored["pd"].mean()), 6),
                "by_grade": {str(int(g)): int(n) for g, n in grades.items()},
                "monitoring": monitoring, "seconds": round(marks[-1] - marks[0], 2),
                "seconds_by_step": {step: round(b - a, 2) for step, a, b in
                                    zip(("score", "write", "monitor"), marks[:-1], marks[1:], strict=True)},
            })
    return {
        "as_of_date": as_of_date.isoformat(), "status": "scored", "customers": int(len(frame)),
        "features_as_of": None if features_as_of is None else features_as_of.isoformat(),
        "models": summaries, "trained": trained and trained.get("models"),
        "read_seconds": round(read_seconds, 2), "seconds": round(time.perf_counter() - started, 2),
    }
