"""The model registry (``scoring.model_registry``) and the tables the PD models write.

Status life cycle: ``candidate`` (trained, not used) → ``active`` (the one model whose scores drive
decisions; at most one) or ``shadow`` (scored side by side, not used) → ``retired``. Promoting a
version to active retires the previous active one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from credit_dw import warehouse

STATUSES = ("candidate", "active", "shadow", "retired")

MODEL_DDL = """
create schema if not exists scoring;
create table if not exists scoring.model_registry (
    model_version text primary key,
    model_type text not null check (model_type in ('scorecard', 'gbm')),
    trained_at timestamptz not null default now(),
    train_start date,
    train_end date,
    validation_start date,
    validation_end date,
    data_end date,
    outcome_window_days integer not null default 365,
    outcome_truncated boolean not null default false,
    features jsonb not null,
    metrics jsonb not null,
    artifact_sha256 text not null,
    artifact_path text not null,
    status text not null default 'candidate' check (status in ('candidate', 'active', 'shadow', 'retired')),
    status_changed_at timestamptz not null default now(),
    notes text
);
create unique index if not exists model_registry_single_active
    on scoring.model_registry (status) where status = 'active';

create table if not exists scoring.customer_scores (
    as_of_date date not null,
    customer_id text not null,
    -- a version of scoring.model_registry; no foreign key: scores are only written from registry records,
    -- and the per-row check cost a third of the nightly write (200,000 rows)
    model_version text not null,
    is_shadow boolean not null,
    pd double precision not null check (pd > 0 and pd < 1),
    grade integer not null,
    points numeric(10, 2) not null,
    reason_codes jsonb not null,
    is_in_default boolean not null default false,
    features_as_of date,
    run_id text,
    scored_at timestamptz not null default now(),
    primary key (as_of_date, model_version, customer_id)
);
create index if not exists customer_scores_customer on scoring.customer_scores (customer_id, as_of_date);

create table if not exists scoring.model_monitoring (
    as_of_date date not null,
    model_version text not null,
    metric text not null,
    feature text not null,
    value double precision,
    status text,
    details jsonb,
    run_id text,
    computed_at timestamptz not null default now(),
    primary key (as_of_date, model_version, metric, feature)
);

create table if not exists scoring.rating_migration (
    from_date date not null,
    to_date date not null,
    model_version text not null,
    from_grade integer not null,
    to_grade integer not null,
    customers integer not null,
    computed_at timestamptz not null default now(),
    primary key (to_date, model_version, from_grade, to_grade)
);

create table if not exists scoring.pd_backtest (
    model_version text not null,
    sample text not null check (sample in ('validation', 'scores')),
    observation_date date not null,
    grade integer not null,
    customers integer not null,
    defaults integer not null,
    predicted_pd double precision,
    observed_default_rate double precision,
    outcome_days integer not null,
    computed_at timestamptz not null default now(),
    primary key (model_version, sample, observation_date, grade)
);
"""


@dataclass
class RegisteredModel:
    model_version: str
    model_type: str
    status: str
    trained_at: datetime
    train_start: date | None
    train_end: date | None
    validation_start: date | None
    validation_end: date | None
    data_end: date | None
    outcome_window_days: int
    outcome_truncated: bool
    features: list
    metrics: dict
    artifact_sha256: str
    artifact_path: str
    notes: str | None

    def as_dict(self) -> dict[str, Any]:
        return {key: (value.isoformat() if isinstance(value, date | datetime) else value)
                for key, value in vars(self).items()}


COLUMNS = ", ".join(RegisteredModel.__dataclass_fields__)


class RegistryError(ValueError):
    """An unknown version or a status change that is not allowed."""


def ensure_schema(conn) -> None:
    conn.execute(MODEL_DDL)


def register(conn, model: RegisteredModel) -> None:
    ensure_schema(conn)
    conn.execute(
        """insert into scoring.model_registry
           (model_version, model_type, trained_at, train_start, train_end, validation_start, validation_end, data_end,
            outcome_window_days, outcome_truncated, features, metrics, artifact_sha256, artifact_path, status, notes)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (model.model_version, model.model_type, model.trained_at, model.train_start, model.train_end,
         model.validation_start, model.validation_end, model.data_end, model.outcome_window_days,
         model.outcome_truncated, json.dumps(model.features), json.dumps(model.metrics, default=_json_default),
         model.artifact_sha256, model.artifact_path, model.status, model.notes),
    )


def _json_default(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _row(row) -> RegisteredModel:
    return RegisteredModel(*row)


def models(conn, *, status: str | None = None) -> list[RegisteredModel]:
    ensure_schema(conn)
    query = f"select {COLUMNS} from scoring.model_registry"
    params: tuple = ()
    if status:
        query += " where status = %s"
        params = (status,)
    return [_row(r) for r in conn.execute(query + " order by trained_at, model_version", params).fetchall()]


def get(conn, version: str) -> RegisteredModel:
    ensure_schema(conn)
    row = conn.execute(f"select {COLUMNS} from scoring.model_registry where model_version = %s", (version,)).fetchone()
    if row is None:
        raise RegistryError(f"no model version {version!r} in scoring.model_registry")
    return _row(row)


def set_status(version: str, status: str, *, database_url: str | None = None, note: str | None = None) -> dict:
    """Make ``version`` active (retiring the active one), shadow, candidate or retired."""
    if status not in STATUSES:
        raise RegistryError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    with warehouse.connect(database_url) as conn:
        model = get(conn, version)
        retired = []
        if status == "active":
            retired = [r[0] for r in conn.execute(
                """update scoring.model_registry set status = 'retired', status_changed_at = now()
                   where status = 'active' and model_version <> %s returning model_version""", (version,))]
        conn.execute(
            """update scoring.model_registry set status = %s, status_changed_at = now(),
               notes = coalesce(%s, notes) where model_version = %s""",
            (status, note, version),
        )
    return {"model_version": version, "model_type": model.model_type, "from": model.status, "to": status,
            "retired": retired}
