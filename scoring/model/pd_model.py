"""PD models: the logistic-regression scorecard on WoE bins (the champion type) and a gradient-boosting
challenger, both with a calibration step and per-customer reason codes.

Points follow PDO scaling: score = offset + factor · ln(odds good:bad), factor = PDO / ln 2,
offset = base points − factor · ln(base odds). With the defaults a score of 600 means odds of 50:1 and
every 20 points double the odds. A scorecard's score is the sum of its features' bin points, so every
point is explainable; its reason codes are the features whose points fall furthest below that
feature's best bin. The challenger has no additive points, so each of its features gets partial-
dependence points per bin (the mean score of a training subsample with that feature moved into the
bin); its reason codes are read from those tables the same way, without re-scoring anyone.

A ``PDModel`` holds only plain Python values, numpy arrays and scikit-learn estimators, so skops can
store it (see ``scoring.model.artifact``).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.model.binning import FeatureBins, fit_binning, index_matrix, woe_matrix

PD_FLOOR, PD_CEILING = 1e-5, 1 - 1e-5
REASON_CODES = 4


def single_threaded():
    """Native thread pools (OpenMP, BLAS) limited to one thread. HistGradientBoosting's OpenMP
    threads spin-wait: on a 2-core host shared with dbt and Airflow workers a 10,000-row fit took
    25 s with two threads and 1 s with one. Parallelism comes from processes (cross-validation folds)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


@dataclass
class Scaling:
    base_points: float = 600.0
    base_odds: float = 50.0  # good:bad odds at base_points
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points_of_logit(self, logit_bad) -> np.ndarray:
        """Score for a log-odds of bad."""
        return self.offset - self.factor * np.asarray(logit_bad, dtype="float64")

    def logit_of_points(self, points) -> np.ndarray:
        return (self.offset - np.asarray(points, dtype="float64")) / self.factor


@dataclass
class Calibrator:
    """Maps a model's raw log-odds of bad to a 12-month PD.

    ``platt``: PD_w = σ(a + b · logit); ``isotonic``: PD_w interpolated on the fitted steps. When the
    calibration sample's outcome windows were shorter than 12 months (truncated at the data end),
    PD_12 = 1 − (1 − PD_w)^(365 / window_days), i.e. a constant default hazard; ``horizon_factor`` is
    that exponent (1 with complete windows).
    """

    method: str = "none"
    a: float = 0.0
    b: float = 1.0
    x_thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    horizon_factor: float = 1.0

    def __call__(self, logit_bad) -> np.ndarray:
        logit_bad = np.asarray(logit_bad, dtype="float64")
        if self.method == "isotonic":
            pd_window = np.interp(logit_bad, self.x_thresholds, self.y_thresholds)
        else:
            pd_window = _sigmoid(self.a + self.b * logit_bad)
        pd_window = np.clip(pd_window, PD_FLOOR, PD_CEILING)
        if self.horizon_factor != 1.0:
            pd_window = 1.0 - np.power(1.0 - pd_window, self.horizon_factor)
        return np.clip(pd_window, PD_FLOOR, PD_CEILING)


def fit_calibrator(logit_bad, y, *, method: str = "platt", window_days: float | None = None) -> Calibrator:
    logit_bad = np.asarray(logit_bad, dtype="float64")
    y = np.asarray(y)
    horizon = 365.0 / window_days if window_days and window_days < 365 else 1.0
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=PD_FLOOR, y_max=PD_CEILING, increasing=True)
        iso.fit(logit_bad, y)
        return Calibrator("isotonic", x_thresholds=np.asarray(iso.X_thresholds_, dtype="float64"),
                          y_thresholds=np.asarray(iso.y_thresholds_, dtype="float64"), horizon_factor=horizon)
    if method != "platt":
        raise ValueError(f"unknown calibration method {method!r} (platt or isotonic)")
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit_bad.reshape(-1, 1), y)
    return Calibrator("platt", float(platt.intercept_[0]), float(platt.coef_[0, 0]), horizon_factor=horizon)


def _sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype="float64")))


@dataclass
class PDModel:
    model_type: str  # "scorecard" or "gbm"
    bins: list[FeatureBins]
    scaling: Scaling
    calibrator: Calibrator = field(default_factory=Calibrator)
    # scorecard
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    points: list[np.ndarray] = field(default_factory=list)  # per feature: points per bin
    # gbm (``points`` then holds partial-dependence points per bin, for reason codes only)
    estimator: object = None
    # monitoring reference: training score deciles and their shares
    score_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score_shares: np.ndarray = field(default_factory=lambda: np.zeros(0))
    info: dict = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [b.name for b in self.bins]

    # -- raw model -------------------------------------------------------------------------------
    def _gbm_matrix(self, X: pd.DataFrame) -> np.ndarray:
        columns = []
        for b in self.bins:
            if b.kind == "numeric":
                columns.append(pd.to_numeric(X[b.name], errors="coerce").to_numpy(dtype="float64"))
            else:
                columns.append(b.woe_of(X[b.name].to_numpy()))
        return np.column_stack(columns) if columns else np.zeros((len(X), 0))

    def points_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Points of every feature for every row (rows × features): scorecard points, or the
        challenger's partial-dependence points."""
        if not self.bins:
            return np.zeros((len(X), 0))
        index = index_matrix(self.bins, X)
        return np.column_stack([self.points[j][index[:, j]] for j in range(len(self.bins))])

    def _decision(self, M: np.ndarray) -> np.ndarray:
        with single_threaded():
            return self.estimator.decision_function(M)

    def raw_logit(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds of bad."""
        if self.model_type == "scorecard":
            return self.intercept + woe_matrix(self.bins, X) @ self.coefficients
        return self._decision(self._gbm_matrix(X))

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw_logit(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """scikit-learn style: columns P(good), P(bad)."""
        bad = self.predict_pd(X)
        return np.column_stack([1 - bad, bad])

    # -- scores with reason codes ----------------------------------------------------------------
    def score(self, X: pd.DataFrame, *, reasons: int = REASON_CODES, reasons_as: str = "list") -> pd.DataFrame:
        """Per row: pd, points and reason codes, the features that cost the most points, worst first:
        [{"feature", "value", "bin", "points_lost"}, …] (``reasons_as="json"``: as JSON text)."""
        matrix = self.points_matrix(X)
        lost = self.best_points()[None, :] - matrix
        if self.model_type == "scorecard":
            points = matrix.sum(axis=1) if self.bins else np.full(len(X), self.scaling.points_of_logit(self.intercept))
            logit = self.scaling.logit_of_points(points)
        else:
            logit = self._decision(self._gbm_matrix(X))
        pd_values = self.calibrator(logit)
        if self.model_type != "scorecard":
            # no bin points to add up: the challenger's score is its calibrated PD on the points scale
            points = self.scaling.points_of_logit(np.log(pd_values / (1 - pd_values)))
        codes = self.reason_codes_json(X, lost, reasons)
        if reasons_as != "json":
            codes = [json.loads(text) for text in codes]
        return pd.DataFrame({"pd": pd_values, "points": np.round(points, 2),
                             "reason_codes": pd.Series(codes, index=X.index, dtype=object)}, index=X.index)

    def best_points(self) -> np.ndarray:
        """Per feature: the points of its best bin among those seen in training."""
        return np.array([
            np.max(np.where(b.counts[: b.n_regular + 1] > 0, p[: b.n_regular + 1], -np.inf))
            for p, b in zip(self.points, self.bins, strict=True)
        ])

    def reason_codes_json(self, X: pd.DataFrame, lost: np.ndarray, top: int = REASON_CODES) -> np.ndarray:
        """Reason codes of every row as JSON text, built column-wise (200,000 rows in about a second):
        the ``top`` features with the most points lost against their best bin (more than 0.005)."""
        n = len(X)
        if lost.shape[1] == 0 or top <= 0:
            return np.full(n, "[]", dtype=object)
        top = min(top, lost.shape[1])
        order = np.argsort(-lost, axis=1, kind="stable")[:, :top]
        top_lost = np.round(np.take_along_axis(lost, order, axis=1), 2)
        top_bin = np.take_along_axis(index_matrix(self.bins, X), order, axis=1)
        keep = top_lost > 0.005  # a prefix of each row: the losses are sorted
        values = np.full((n, top), "null", dtype=object)
        for j, b in enumerate(self.bins):
            rows, cols = np.nonzero((order == j) & keep)
            if len(rows):
                values[rows, cols] = _json_values(X[b.name].to_numpy()[rows], b.kind)
        heads = [np.array([f'{{"feature": {json.dumps(b.name, ensure_ascii=False)}, "bin": '
                           f'{json.dumps(label, ensure_ascii=False)}, "value": ' for label in b.labels], dtype=object)
                 for b in self.bins]
        out = np.full(n, "[", dtype=object)
        for c in range(top):
            head = np.empty(n, dtype=object)
            for j in range(len(self.bins)):
                on = order[:, c] == j
                if on.any():
                    head[on] = heads[j][top_bin[on, c]]
            lost_text = np.array(list(map(repr, top_lost[:, c].tolist())), dtype=object)
            item = head + values[:, c] + ', "points_lost": ' + lost_text + "}"
            separator = ", " if c else ""
            out = np.where(keep[:, c], out + separator + item, out)
        return out + "]"

    # -- descriptions ----------------------------------------------------------------------------
    def scorecard_table(self) -> pd.DataFrame:
        """Feature, bin, WoE, training count and bad rate, and points (scorecards)."""
        frames = []
        for j, b in enumerate(self.bins):
            table = b.table()
            if self.model_type == "scorecard":
                table["points"] = np.round(self.points[j], 2)
            frames.append(table)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def score_distribution(self, points) -> np.ndarray:
        """Counts of ``points`` in the training score deciles (for the score PSI)."""
        index = np.searchsorted(self.score_edges, np.asarray(points, dtype="float64"), side="right")
        return np.bincount(index, minlength=len(self.score_edges) + 1).astype("float64")


def _json_values(values: np.ndarray, kind: str) -> np.ndarray:
    """Raw feature values as JSON literals (numbers, strings, null)."""
    if kind == "numeric":
        numbers = np.round(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64"), 6)
        finite = np.isfinite(numbers)
        text = np.array(list(map(repr, np.where(finite, numbers, 0.0).tolist())), dtype=object)
        text[~finite] = "null"
        return text
    series = pd.Series(values, dtype=object)
    return series.map(lambda v: "null" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                      else json.dumps(str(v), ensure_ascii=False)).to_numpy(dtype=object)


def set_score_reference(model: PDModel, X: pd.DataFrame) -> None:
    """Training score deciles and shares, the expected side of the score PSI. Call it once the model
    is calibrated: a challenger's points come from its calibrated PD."""
    points = model.score(X, reasons=0)["points"].to_numpy()
    edges = np.unique(np.quantile(points, np.linspace(0.1, 0.9, 9)))
    model.score_edges = edges
    model.score_shares = model.score_distribution(points) / len(points)


def fit_scorecard(
    X: pd.DataFrame, y: np.ndarray, bins: list[FeatureBins], *, scaling: Scaling | None = None, C: float = 1.0,
) -> PDModel:
    """Logistic regression on the WoE of ``bins``; features whose coefficient has the wrong sign (more
    risk in a safer bin: collinearity) are dropped one at a time and the regression refitted."""
    from sklearn.linear_model import LogisticRegression

    scaling = scaling or Scaling()
    y = np.asarray(y)
    kept = list(bins)
    W_all = woe_matrix(bins, X)
    columns = list(range(len(bins)))
    while True:
        if columns:
            regression = LogisticRegression(C=C, max_iter=2000)
            with warnings.catch_warnings(), single_threaded():
                warnings.simplefilter("ignore")
                regression.fit(W_all[:, columns], y)
            coefficients = regression.coef_[0].copy()
            intercept = float(regression.intercept_[0])
        else:
            coefficients = np.zeros(0)
            rate = float(np.clip(y.mean(), PD_FLOOR, PD_CEILING))
            intercept = math.log(rate / (1 - rate))
        wrong = [k for k, c in enumerate(coefficients) if c > 0]
        if not wrong:
            break
        # WoE is high for good bins, so every coefficient on log-odds of bad must be <= 0
        columns.pop(max(wrong, key=lambda k: coefficients[k]))
    kept = [bins[k] for k in columns]
    n = max(len(kept), 1)
    points = [
        -scaling.factor * (c * b.woe + intercept / n) + scaling.offset / n
        for b, c in zip(kept, coefficients, strict=True)
    ]
    model = PDModel("scorecard", kept, scaling, coefficients=coefficients, intercept=intercept, points=points)
    model.calibrator = Calibrator("platt", 0.0, 1.0)  # the regression's own PD until calibrated
    return model


def fit_gbm(X: pd.DataFrame, y: np.ndarray, bins: list[FeatureBins], *, scaling: Scaling | None = None,
            random_state: int = 42) -> PDModel:
    """HistGradientBoosting on the raw numeric features and the WoE of the categorical ones."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    scaling = scaling or Scaling()
    model = PDModel("gbm", list(bins), scaling)
    M = model._gbm_matrix(X)
    y = np.asarray(y)
    estimator = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=300, max_leaf_nodes=8, min_samples_leaf=max(30, len(y) // 100),
        l2_regularization=1.0, early_stopping=len(y) >= 2000, validation_fraction=0.2, n_iter_no_change=20,
        random_state=random_state,
    )
    with single_threaded():
        estimator.fit(M, y)
    model.estimator = estimator
    model.points = _partial_dependence_points(model, M, scaling, random_state)
    model.calibrator = Calibrator("platt", 0.0, 1.0)
    return model


def _bin_representatives(b: FeatureBins, column: np.ndarray) -> np.ndarray:
    """One model input per bin: the training median of a numeric bin (nan for missing), the WoE of a
    categorical bin (the challenger sees categories as WoE)."""
    if b.kind == "categorical":
        return b.woe.copy()
    index = b.bin_index(column)
    values = np.full(len(b.labels), np.nan)
    for k in range(b.n_regular):
        inside = column[index == k]
        if len(inside):
            values[k] = float(np.median(inside))
    return values


def _partial_dependence_points(model: PDModel, M: np.ndarray, scaling: Scaling, random_state: int,
                               rows: int = 2000) -> list[np.ndarray]:
    """Per feature and bin: the challenger's mean score over a training subsample with the feature set
    to the bin's representative value (bins unseen in training get the feature's average)."""
    rng = np.random.default_rng(random_state)
    sample = M[rng.choice(len(M), size=min(rows, len(M)), replace=False)]
    blocks, where = [], []
    for j, b in enumerate(model.bins):
        for k, value in enumerate(_bin_representatives(b, M[:, j])):
            moved = sample.copy()
            moved[:, j] = value
            blocks.append(moved)
            where.append((j, k))
    scores = scaling.points_of_logit(model._decision(np.vstack(blocks))).reshape(len(blocks), len(sample))
    tables = [np.empty(len(b.labels)) for b in model.bins]
    for (j, k), mean in zip(where, scores.mean(axis=1), strict=True):
        tables[j][k] = mean
    for b, points in zip(model.bins, tables, strict=True):
        seen = b.counts > 0
        points[~seen] = np.average(points[seen], weights=b.counts[seen]) if seen.any() else 0.0
    return tables


def fit_pd_model(
    X: pd.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str], *, model_type: str = "scorecard",
    scaling: Scaling | None = None, n_jobs: int = 1, bins: list[FeatureBins] | None = None,
) -> PDModel:
    """Binning and model in one go (the scorecard's bins also feed the challenger)."""
    if bins is None:
        bins, ivs = fit_binning(X, y, numeric, categorical, n_jobs=n_jobs)
    else:
        ivs = {b.name: b.iv for b in bins}
    if model_type == "scorecard":
        model = fit_scorecard(X, y, bins, scaling=scaling)
    elif model_type == "gbm":
        model = fit_gbm(X, y, bins, scaling=scaling)
    else:
        raise ValueError(f"unknown model type {model_type!r} (scorecard or gbm)")
    model.info["iv"] = {name: round(value, 4) for name, value in ivs.items()}
    return model
