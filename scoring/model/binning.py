"""Monotonic optimal binning with weight of evidence (optbinning's ``BinningProcess``), kept as plain
tables so that a fitted model is small, fast to apply and serialisable without optbinning objects.

Bin layout of every feature: regular bins ``0..k-1``, then ``k`` = missing, ``k+1`` = unknown (a
category not seen in training). Numeric bins are right-open intervals between ``splits``, the way
optbinning cuts them. WoE follows optbinning: ln(share of goods / share of bads), so a riskier bin
has a lower WoE.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

# A missing-value bin smaller than this keeps a neutral WoE of 0 instead of its noisy empirical one.
MIN_MISSING_COUNT = 20
# Features whose information value is below this are not offered to the model.
MIN_IV = 0.02
# At most this many features (highest IV first) enter the model: a scorecard must stay readable.
MAX_FEATURES = 40
# optbinning settings: numeric bins monotonic in the bad rate (ascending or descending, chosen from
# the data); at most MAX_PREBINS pre-bins of at least MIN_PREBIN_SIZE of the rows; final bins at
# least MIN_BIN_SIZE; a category group may be as small as MIN_CATEGORY_BIN_SIZE (a 3 % category
# such as "foreign worker: no" carries information); categories rarer than CATEGORY_CUTOFF pooled.
NUMERIC_TREND = "auto_asc_desc"
MAX_PREBINS = 20
MIN_PREBIN_SIZE = 0.05
MIN_BIN_SIZE = 0.05
MIN_CATEGORY_BIN_SIZE = 0.02
CATEGORY_CUTOFF = 0.01


@dataclass
class FeatureBins:
    name: str
    kind: str  # "numeric" or "categorical"
    splits: np.ndarray  # numeric: increasing cut points (len k-1); categorical: empty
    categories: dict[str, int]  # categorical: category -> regular bin; numeric: empty
    labels: list[str]  # one per bin: k regular, "missing", "unknown"
    woe: np.ndarray  # per bin (k + 2)
    counts: np.ndarray  # training rows per bin (k + 2)
    event_rates: np.ndarray  # training bad rate per bin (k + 2); nan where empty
    iv: float
    trend: str  # "ascending", "descending" (bad rate with the value) or "categorical"

    @property
    def n_regular(self) -> int:
        return len(self.labels) - 2

    @property
    def missing_bin(self) -> int:
        return self.n_regular

    @property
    def unknown_bin(self) -> int:
        return self.n_regular + 1

    @property
    def shares(self) -> np.ndarray:
        """Training distribution over the bins: the expected side of the PSI."""
        total = self.counts.sum()
        return self.counts / total if total else self.counts.astype(float)

    def bin_index(self, values) -> np.ndarray:
        """The bin of each value (int array)."""
        if self.kind == "numeric":
            numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
            index = np.searchsorted(self.splits, numbers, side="right")
            index[np.isnan(numbers)] = self.missing_bin
            return index.astype(np.int32)
        series = pd.Series(values, dtype=object)
        missing = series.isna().to_numpy()
        if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            series = series.map(lambda v: v if isinstance(v, str) else (None if _missing(v) else _text(v)))
        index = np.array(series.map(self.categories).to_numpy(dtype="float64", na_value=np.nan))
        index[np.isnan(index)] = self.unknown_bin
        index[missing] = self.missing_bin
        return index.astype(np.int32)

    def woe_of(self, values) -> np.ndarray:
        return self.woe[self.bin_index(values)]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "feature": self.name, "bin": range(len(self.labels)), "label": self.labels,
            "count": self.counts, "event_rate": self.event_rates, "woe": self.woe,
        })


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _format_number(value: float) -> str:
    return f"{value:.6g}"


def _numeric_labels(splits: np.ndarray) -> list[str]:
    edges = [-np.inf, *splits.tolist(), np.inf]
    return [f"[{_format_number(lo)}, {_format_number(hi)})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _smoothed_woe(goods: float, bads: float, total_goods: float, total_bads: float) -> float:
    return math.log(((goods + 0.5) / (total_goods + 0.5)) / ((bads + 0.5) / (total_bads + 0.5)))


def _from_optbinning(optb, name: str, kind: str, x: pd.Series, y: np.ndarray) -> FeatureBins:
    """Our table for one fitted ``OptimalBinning``; counts recomputed from the data so that the
    missing and unknown bins are right whatever optbinning did with them."""
    if kind == "numeric":
        splits = np.asarray(optb.splits, dtype="float64")
        categories: dict[str, int] = {}
        labels = _numeric_labels(splits)
    else:
        splits = np.zeros(0)
        categories = {}
        labels = []
        for number, members in enumerate(optb.splits):
            members = [str(m) for m in list(members)]
            for member in members:
                categories[member] = number
            shown = ", ".join(members[:5]) + (f", … (+{len(members) - 5})" if len(members) > 5 else "")
            labels.append(shown)
    labels = [*labels, "missing", "unknown"]
    bins = FeatureBins(name, kind, splits, categories, labels, np.zeros(len(labels)), np.zeros(len(labels)),
                       np.full(len(labels), np.nan), 0.0, "categorical")
    index = bins.bin_index(x.to_numpy())
    counts = np.bincount(index, minlength=len(labels)).astype("float64")
    bads = np.bincount(index, weights=y, minlength=len(labels))
    goods = counts - bads
    total_bads, total_goods = bads.sum(), goods.sum()
    woe = np.zeros(len(labels))
    with np.errstate(divide="ignore", invalid="ignore"):
        event_rates = np.where(counts > 0, bads / counts, np.nan)
    for b in range(bins.n_regular):
        if counts[b] > 0:
            woe[b] = _smoothed_woe(goods[b], bads[b], total_goods, total_bads)
    if counts[bins.missing_bin] >= MIN_MISSING_COUNT:
        woe[bins.missing_bin] = _smoothed_woe(
            goods[bins.missing_bin], bads[bins.missing_bin], total_goods, total_bads)
    shares_good = goods / total_goods if total_goods else goods
    shares_bad = bads / total_bads if total_bads else bads
    iv = float(np.sum((shares_good - shares_bad) * woe))
    bins.woe, bins.counts, bins.event_rates, bins.iv = woe, counts, event_rates, iv
    if kind == "numeric":
        regular = event_rates[: bins.n_regular]
        regular = regular[~np.isnan(regular)]
        bins.trend = "descending" if len(regular) > 1 and regular[-1] < regular[0] else "ascending"
    return bins


def _binnable(x: pd.Series, kind: str) -> bool:
    """Whether optbinning can bin a column at all: two distinct values, and for a categorical at least
    one category above the pooling cutoff (else everything would be pooled into "others")."""
    values = x.dropna()
    if values.nunique() < 2:
        return x.isna().any() and values.nunique() == 1  # one value and missing: still a split
    if kind == "categorical":
        return bool((values.value_counts() / len(x) >= CATEGORY_CUTOFF).any())
    return True


def _binning_params(name: str, kind: str) -> dict:
    if kind == "numeric":
        return {"monotonic_trend": NUMERIC_TREND}
    return {"cat_cutoff": CATEGORY_CUTOFF, "min_prebin_size": MIN_CATEGORY_BIN_SIZE,
            "min_bin_size": MIN_CATEGORY_BIN_SIZE}


def fit_binning(
    X: pd.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str], *,
    min_iv: float = MIN_IV, max_features: int = MAX_FEATURES, n_jobs: int = 1,
) -> tuple[list[FeatureBins], dict[str, float]]:
    """Optimal monotonic bins for every feature; returns the features worth modelling (IV at least
    ``min_iv``, at most ``max_features``, strongest first) and the IV of every feature.

    optbinning's ``BinningProcess`` bins all features at once; should it fail on one (it raises for
    the whole table), each feature is binned on its own and the ones that cannot be are skipped."""
    from optbinning import BinningProcess, OptimalBinning

    kinds = {name: "numeric" for name in numeric} | {name: "categorical" for name in categorical}
    names = [name for name in kinds if _binnable(X[name], kinds[name])]
    ivs: dict[str, float] = {name: 0.0 for name in kinds if name not in names}
    frame = X[names].copy()
    for name in names:
        if kinds[name] == "categorical":
            frame[name] = frame[name].astype(object)
    y = np.asarray(y)
    fitted: list[FeatureBins] = []
    if names:
        categorical_names = [n for n in names if kinds[n] == "categorical"]
        process = BinningProcess(
            names, categorical_variables=categorical_names or None, max_n_prebins=MAX_PREBINS,
            min_prebin_size=MIN_PREBIN_SIZE, min_bin_size=MIN_BIN_SIZE,
            binning_fit_params={name: _binning_params(name, kinds[name]) for name in names}, n_jobs=n_jobs,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                process.fit(frame, y)
            optimal = {name: process.get_binned_variable(name) for name in names}
        except Exception:  # one awkward column must not sink the others
            optimal = {}
            for name in names:
                params = {"max_n_prebins": MAX_PREBINS, "min_prebin_size": MIN_PREBIN_SIZE,
                          "min_bin_size": MIN_BIN_SIZE, **_binning_params(name, kinds[name])}
                binner = OptimalBinning(name, dtype="numerical" if kinds[name] == "numeric" else "categorical",
                                        **params)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        binner.fit(frame[name].to_numpy(), y)
                    optimal[name] = binner
                except Exception:
                    ivs[name] = 0.0
        fitted = [_from_optbinning(optimal[name], name, kinds[name], X[name], y) for name in names if name in optimal]
    ivs.update({bins.name: bins.iv for bins in fitted})
    strong = sorted((b for b in fitted if b.iv >= min_iv), key=lambda b: -b.iv)
    return strong[:max_features], ivs


def woe_matrix(bins: list[FeatureBins], X: pd.DataFrame) -> np.ndarray:
    """Rows × features matrix of WoE values."""
    if not bins:
        return np.zeros((len(X), 0))
    return np.column_stack([b.woe_of(X[b.name].to_numpy()) for b in bins])


def index_matrix(bins: list[FeatureBins], X: pd.DataFrame) -> np.ndarray:
    if not bins:
        return np.zeros((len(X), 0), dtype=np.int32)
    return np.column_stack([b.bin_index(X[b.name].to_numpy()) for b in bins])
