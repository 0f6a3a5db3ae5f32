"""Discrimination, stability and calibration measures, as defined in docs/domain.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Shares of zero would make ln(a/e) infinite; a bin empty on one side counts as this share.
PSI_FLOOR = 1e-4
PSI_STABLE, PSI_SHIFTED = 0.1, 0.25


def auc(y, score) -> float:
    """Area under the ROC curve of ``score`` (higher = more likely bad) for 0/1 ``y``."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, score))


def gini(auc_value: float) -> float:
    return 2.0 * auc_value - 1.0


def ks(y, score) -> float:
    """Kolmogorov–Smirnov statistic: the largest gap between the bads' and goods' score distributions."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def discrimination(y, score) -> dict[str, float]:
    value = auc(y, score)
    return {"auc": value, "gini": gini(value), "ks": ks(y, score)}


def psi(expected, actual, *, floor: float = PSI_FLOOR) -> float:
    """Population stability index Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) over bins.

    ``expected`` and ``actual`` are counts or shares per bin (normalised here); a bin empty on
    either side counts as ``floor`` so that the sum stays finite.
    """
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.shape != a.shape:
        raise ValueError(f"expected and actual need the same bins ({e.shape} vs {a.shape})")
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_status(value: float) -> str:
    if value != value:  # nan
        return "unknown"
    if value < PSI_STABLE:
        return "stable"
    return "watch" if value <= PSI_SHIFTED else "shifted"


def migration_matrix(before: pd.Series, after: pd.Series, grades: list[int]) -> pd.DataFrame:
    """Customers per (grade before, grade after) for customers graded on both dates; rows: before."""
    joined = pd.concat({"before": before, "after": after}, axis=1, join="inner").dropna()
    matrix = pd.crosstab(joined["before"].astype(int), joined["after"].astype(int))
    return matrix.reindex(index=grades, columns=grades, fill_value=0)


def backtest_by_grade(grade, pd_, y, grades: list[int]) -> pd.DataFrame:
    """Per grade: customers, predicted PD (mean), defaults and the observed default rate."""
    frame = pd.DataFrame({"grade": np.asarray(grade), "pd": np.asarray(pd_, dtype=float), "y": np.asarray(y)})
    table = frame.groupby("grade").agg(customers=("y", "size"), predicted_pd=("pd", "mean"), defaults=("y", "sum"))
    table = table.reindex(grades)
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["defaults"] = table["defaults"].fillna(0).astype(int)
    table["observed_default_rate"] = np.where(table["customers"] > 0,
                                              table["defaults"] / table["customers"].where(table["customers"] > 0, 1),
                                              np.nan)
    return table.reset_index()
