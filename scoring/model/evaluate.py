"""``credit-dw model evaluate``: the warehouse's scorecard recipe (monotonic optimal binning, WoE,
logistic regression) cross-validated on any labelled table.

Each fold bins and fits on its training part only and is scored on its held-out part, so the
figures are honest out-of-sample estimates; they are averaged over the folds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scoring.model.dataset import DataError, PreparedTable, prepare_table, read_table
from scoring.model.metrics import discrimination

# Below this many rows the k-fold split is repeated (see default_repeats).
TINY_TABLE_ROWS, SMALL_TABLE_ROWS = 5_000, 20_000


@dataclass
class Evaluation:
    n: int
    bad_rate: float
    auc: float
    gini: float
    ks: float
    folds: list[dict] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    bad_value: str = ""
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"n": self.n, "bad_rate": round(self.bad_rate, 6), "auc": round(self.auc, 6),
                "gini": round(self.gini, 6), "ks": round(self.ks, 6)}


def _fold(prepared: PreparedTable, train: np.ndarray, test: np.ndarray, model_type: str) -> dict:
    from scoring.model.pd_model import fit_pd_model, single_threaded

    X_train, X_test = prepared.X.iloc[train], prepared.X.iloc[test]
    with single_threaded():
        model = fit_pd_model(X_train, prepared.y[train], prepared.numeric, prepared.categorical, model_type=model_type)
        scores = model.raw_logit(X_test)
    return {**discrimination(prepared.y[test], scores), "features": model.features}


def default_jobs() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 5))


def default_repeats(rows: int) -> int:
    """Small tables repeat the k-fold split with other shuffles and average all folds: on German
    Credit (1,000 rows) the mean AUC of one 5-fold split moves between 0.778 and 0.794 with the
    shuffle alone. Large tables need one pass (and the time budget allows one)."""
    if rows < TINY_TABLE_ROWS:
        return 5
    return 3 if rows < SMALL_TABLE_ROWS else 1


def evaluate_prepared(prepared: PreparedTable, *, folds: int = 5, seed: int = 42, n_jobs: int | None = None,
                      model_type: str = "scorecard", repeats: int | None = None) -> Evaluation:
    from joblib import Parallel, delayed
    from sklearn.model_selection import RepeatedStratifiedKFold

    started = time.perf_counter()
    minority = int(min(prepared.y.sum(), len(prepared.y) - prepared.y.sum()))
    splits = min(folds, minority)
    if splits < 2:
        raise DataError(f"only {minority} row(s) in the smaller class: too few for cross-validation")
    repeats = repeats or default_repeats(len(prepared.y))
    cv = RepeatedStratifiedKFold(n_splits=splits, n_repeats=repeats, random_state=seed)
    jobs = min(n_jobs or default_jobs(), splits * repeats)
    parts = list(cv.split(np.zeros(len(prepared.y)), prepared.y))
    if jobs > 1 and (len(prepared.y) >= 5000 or len(parts) > splits):
        results = Parallel(n_jobs=jobs)(delayed(_fold)(prepared, train, test, model_type) for train, test in parts)
    else:
        results = [_fold(prepared, train, test, model_type) for train, test in parts]
    mean = {key: float(np.nanmean([r[key] for r in results])) for key in ("auc", "gini", "ks")}
    used = sorted({name for r in results for name in r["features"]})
    return Evaluation(
        n=len(prepared.y), bad_rate=float(prepared.y.mean()),
        folds=[{k: r[k] for k in ("auc", "gini", "ks")} for r in results], features=used,
        dropped=prepared.dropped, bad_value=prepared.bad_value, seconds=time.perf_counter() - started, **mean,
    )


def evaluate_table(frame, target: str, bad_value: str | None = None, **options) -> Evaluation:
    """Stratified k-fold cross-validation of the scorecard on a labelled DataFrame (options: folds,
    seed, n_jobs, model_type, repeats)."""
    prepared = prepare_table(frame, target, bad_value)
    return evaluate_prepared(prepared, **options)


def evaluate_csv(path: str | Path, target: str, bad_value: str | None = None, **options) -> Evaluation:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        frame = read_table(path)
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text: {error}") from None
    except (ValueError, OSError) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    return evaluate_table(frame, target, bad_value, **options)
