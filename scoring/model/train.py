"""Training PD models on the warehouse's history and registering them as candidates.

Out of time: the observation dates are split in time, the earlier ~70 % train (binning and
regression), the later ~30 % validate (the reported metrics) and calibrate. Customers already in
default on an observation date are left out (a PD applies to performing customers; the scorer gives
defaulted ones PD ≈ 1). Both the scorecard (champion type) and the gradient-boosting challenger are
trained on the same split and bins.

Calibration: Platt scaling (or isotonic) of the raw log-odds on the validation slice. When that
slice's outcome windows were cut short by the data end, the fitted window PD is turned into a
12-month PD with a constant default hazard, PD₁₂ = 1 − (1 − PD_w)^(365/w), w the mean window; the
registry says so (``outcome_truncated``, ``metrics.calibration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from credit_dw import warehouse
from scoring.model import registry
from scoring.model.artifact import save_model
from scoring.model.binning import fit_binning
from scoring.model.dataset import type_features
from scoring.model.master_scale import master_scale
from scoring.model.metrics import backtest_by_grade, discrimination
from scoring.model.pd_model import PDModel, fit_calibrator, fit_gbm, fit_scorecard, set_score_reference
from scoring.model.sample import MIN_OUTCOME_DAYS, OUTCOME_WINDOW_DAYS, NoHistory, Sample, development_sample

MIN_DEFAULTS = 20  # in the training slice; fewer and there is nothing to learn from
MIN_GOODS = 20
VALIDATION_SHARE = 0.3


@dataclass
class TrainResult:
    status: str  # "trained" or "no_model"
    reason: str | None = None
    models: list[dict] = field(default_factory=list)
    sample: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "models": self.models, "sample": self.sample}


def split_out_of_time(dates: list[date], validation_share: float = VALIDATION_SHARE) -> tuple[list[date], list[date]]:
    """Earlier dates train, the latest ``validation_share`` (at least one) validate."""
    dates = sorted(set(dates))
    if len(dates) < 2:
        return dates, []
    n_validation = min(len(dates) - 1, max(1, round(len(dates) * validation_share)))
    return dates[:-n_validation], dates[-n_validation:]


def _window_pd(pd12: np.ndarray, outcome_days: np.ndarray) -> np.ndarray:
    """A 12-month PD over a shorter window, constant hazard: 1 − (1 − PD₁₂)^(w/365)."""
    return 1.0 - np.power(1.0 - pd12, np.asarray(outcome_days, dtype=float) / OUTCOME_WINDOW_DAYS)


def _evaluate(model: PDModel, X: pd.DataFrame, y: np.ndarray, outcome_days: np.ndarray) -> dict:
    if len(y) == 0:
        return {"rows": 0}
    raw = model.raw_logit(X)
    pd12 = model.calibrator(raw)
    expected = _window_pd(pd12, outcome_days)
    out = {"rows": int(len(y)), "defaults": int(y.sum()), "default_rate": float(y.mean()),
           "mean_pd_12m": float(pd12.mean()), "mean_pd_over_window": float(expected.mean()),
           "brier_over_window": float(np.mean((expected - y) ** 2)),
           "mean_outcome_days": float(np.mean(outcome_days))}
    if 0 < y.sum() < len(y):
        out.update({key: round(value, 6) for key, value in discrimination(y, raw).items()})
    return out


def _version(model_type: str, trained_at: datetime, existing: set[str]) -> str:
    base = f"{model_type}-{trained_at:%Y%m%d-%H%M%S}"
    version, number = base, 1
    while version in existing:
        number += 1
        version = f"{base}-{number}"
    return version


def fit_models(
    sample: Sample, *, validation_share: float = VALIDATION_SHARE, calibration: str = "platt",
    challenger: bool = True,
) -> tuple[list[tuple[PDModel, dict]], dict] | str:
    """Fit the scorecard (and challenger) on a sample; the reason as a string when it cannot be done."""
    frame = sample.frame[sample.frame["is_in_default"].fillna(0) < 1].reset_index(drop=True)
    train_dates, validation_dates = split_out_of_time(list(frame["as_of_date"].unique()), validation_share)
    if not validation_dates:
        return (f"history too short: {len(train_dates)} usable observation date(s) (month-ends with at least "
                f"{MIN_OUTCOME_DAYS} days of outcome before {sample.data_end}); out-of-time validation needs two")
    is_train = frame["as_of_date"].isin(train_dates).to_numpy()
    X_all, numeric, categorical, dropped = type_features(frame[sample.features])
    y_all = frame["default_flag"].to_numpy(dtype=np.int8)
    days_all = frame["outcome_days"].to_numpy()
    X_train, y_train = X_all[is_train], y_all[is_train]
    X_val, y_val, days_val = X_all[~is_train], y_all[~is_train], days_all[~is_train]
    if y_train.sum() < MIN_DEFAULTS or len(y_train) - y_train.sum() < MIN_GOODS:
        return (f"too few defaults to learn from: {int(y_train.sum())} defaults and "
                f"{int(len(y_train) - y_train.sum())} non-defaults in the training dates "
                f"{train_dates[0]}..{train_dates[-1]} (need {MIN_DEFAULTS} and {MIN_GOODS})")
    bins, ivs = fit_binning(X_train, y_train, numeric, categorical)
    window = float(np.mean(days_val)) if len(days_val) else OUTCOME_WINDOW_DAYS
    calibrate_on_validation = 0 < y_val.sum() < len(y_val)
    fitted = []
    builders = [("scorecard", fit_scorecard)] + ([("gbm", fit_gbm)] if challenger else [])
    scale = master_scale()
    for model_type, builder in builders:
        model = builder(X_train, y_train, bins)
        if calibrate_on_validation:
            model.calibrator = fit_calibrator(model.raw_logit(X_val), y_val, method=calibration, window_days=window)
        else:  # no default (or only defaults) in the validation slice: calibrate in sample
            days_train = days_all[is_train]
            model.calibrator = fit_calibrator(model.raw_logit(X_train), y_train, method=calibration,
                                              window_days=float(np.mean(days_train)))
        set_score_reference(model, X_train)
        metrics = {
            "train": _evaluate(model, X_train, y_train, days_all[is_train]),
            "validation": _evaluate(model, X_val, y_val, days_val),
            "calibration": {
                "method": model.calibrator.method,
                "slice": "validation" if calibrate_on_validation else "train (validation has one class)",
                "mean_window_days": round(window, 1),
                "horizon_factor": round(model.calibrator.horizon_factor, 4),
            },
            "iv": {name: round(value, 4) for name, value in sorted(ivs.items(), key=lambda kv: -kv[1])},
        }
        backtest = []
        if len(y_val):
            pd12 = model.predict_pd(X_val)
            grades = scale.grade_of(pd12)
            predicted = _window_pd(pd12, days_val)
            observation = frame.loc[~is_train, "as_of_date"].to_numpy()
            for day in sorted(set(observation)):
                on_day = observation == day
                table = backtest_by_grade(grades[on_day], predicted[on_day], y_val[on_day], list(scale.grades))
                outcome = int(days_val[on_day][0])
                backtest += [{**row, "observation_date": day, "outcome_days": outcome}
                             for row in table.to_dict("records") if row["customers"] > 0]
        model.info.update({
            "model_type": model_type, "dropped_columns": dropped, "train_dates": [str(d) for d in train_dates],
            "validation_dates": [str(d) for d in validation_dates], "data_end": str(sample.data_end),
            "event_sources": sample.event_sources,
        })
        fitted.append((model, {"metrics": metrics, "backtest": backtest, "train_dates": train_dates,
                               "validation_dates": validation_dates}))
    summary = {
        "rows": int(len(frame)), "defaults": int(y_all.sum()), "default_rate": float(y_all.mean()),
        "excluded_in_default": int(len(sample.frame) - len(frame)),
        "observation_dates": [str(d) for d in sorted(set(frame["as_of_date"]))],
        "data_end": str(sample.data_end), "event_sources": sample.event_sources, "notes": sample.notes,
        "outcome_truncated": bool(frame["outcome_days"].min() < OUTCOME_WINDOW_DAYS),
        "min_outcome_days": int(frame["outcome_days"].min()),
    }
    return fitted, summary


def _features_record(model: PDModel) -> list[dict]:
    records = []
    for j, b in enumerate(model.bins):
        record = {"name": b.name, "kind": b.kind, "iv": round(b.iv, 4), "bins": b.n_regular, "trend": b.trend}
        if model.model_type == "scorecard":
            record["coefficient"] = round(float(model.coefficients[j]), 6)
            record["max_points"] = round(float(model.points[j][: b.n_regular + 1].max()), 2)
        records.append(record)
    return records


def train_models(
    as_of: date | None = None, *, database_url: str | None = None, min_outcome_days: int = MIN_OUTCOME_DAYS,
    validation_share: float = VALIDATION_SHARE, calibration: str = "platt", challenger: bool = True,
) -> TrainResult:
    """Train on the warehouse history up to ``as_of`` (default: everything the marts hold) and register
    the models as candidates; a ``no_model`` result says why when the history is too short."""
    try:
        sample = development_sample(as_of, database_url=database_url, min_outcome_days=min_outcome_days)
    except NoHistory as reason:
        return TrainResult("no_model", str(reason))
    if not sample.observation_dates:
        return TrainResult("no_model", f"history too short: no month-end with at least {min_outcome_days} days of "
                                       f"outcome before {sample.data_end}", sample={"data_end": str(sample.data_end)})
    outcome = fit_models(sample, validation_share=validation_share, calibration=calibration, challenger=challenger)
    if isinstance(outcome, str):
        dates = [str(d) for d in sample.observation_dates]
        return TrainResult("no_model", outcome, sample={"data_end": str(sample.data_end), "observation_dates": dates})
    fitted, summary = outcome
    trained_at = datetime.now(UTC)
    results = []
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        existing = {m.model_version for m in registry.models(conn)}
        for model, details in fitted:
            version = _version(model.model_type, trained_at, existing)
            existing.add(version)
            model.info["model_version"] = version
            path, digest = save_model(model, version)
            metrics = {**details["metrics"], "sample": summary}
            registry.register(conn, registry.RegisteredModel(
                model_version=version, model_type=model.model_type, status="candidate", trained_at=trained_at,
                train_start=details["train_dates"][0], train_end=details["train_dates"][-1],
                validation_start=details["validation_dates"][0], validation_end=details["validation_dates"][-1],
                data_end=sample.data_end, outcome_window_days=OUTCOME_WINDOW_DAYS,
                outcome_truncated=summary["outcome_truncated"], features=_features_record(model), metrics=metrics,
                artifact_sha256=digest, artifact_path=str(path),
                notes=("outcome windows truncated at the data end (shortest "
                       f"{summary['min_outcome_days']} days); 12-month PD by constant-hazard scaling")
                if summary["outcome_truncated"] else None,
            ))
            _store_backtest(conn, version, details["backtest"])
            results.append({"model_version": version, "model_type": model.model_type,
                            "features": model.features, "validation": metrics["validation"],
                            "train": metrics["train"], "artifact": str(path), "sha256": digest})
    return TrainResult("trained", None, results, summary)


def _store_backtest(conn, version: str, rows: list[dict]) -> None:
    conn.execute("delete from scoring.pd_backtest where model_version = %s and sample = 'validation'", (version,))
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into scoring.pd_backtest (model_version, sample, observation_date, grade, customers, defaults,
               predicted_pd, observed_default_rate, outcome_days)
               values (%s, 'validation', %s, %s, %s, %s, %s, %s, %s)""",
            [(version, row["observation_date"], int(row["grade"]), int(row["customers"]), int(row["defaults"]),
              _finite(row["predicted_pd"]), _finite(row["observed_default_rate"]), int(row["outcome_days"]))
             for row in rows],
        )


def _finite(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
