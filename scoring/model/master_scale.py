"""The rating master scale: fixed grades with PD bounds that every model maps into.

Kept as the dbt seed ``dbt_project/seeds/rating_master_scale.csv`` (columns grade, grade_label,
pd_lower, pd_upper) so that analysts join it in SQL; Python reads the same file. A PD belongs to the
grade with ``pd_lower <= pd < pd_upper`` (the last grade includes 1).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from credit_dw.settings import PROJECT_ROOT

MASTER_SCALE_CSV = PROJECT_ROOT / "dbt_project" / "seeds" / "rating_master_scale.csv"


@dataclass(frozen=True)
class MasterScale:
    grades: tuple[int, ...]
    labels: tuple[str, ...]
    pd_lower: tuple[float, ...]
    pd_upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.grades:
            raise ValueError("the master scale has no grades")
        if self.pd_lower[0] != 0.0 or self.pd_upper[-1] != 1.0:
            raise ValueError("the master scale must cover PDs from 0 to 1")
        for number in range(len(self.grades)):
            if not self.pd_lower[number] < self.pd_upper[number]:
                raise ValueError(f"grade {self.grades[number]}: pd_lower must be below pd_upper")
            if number and self.pd_lower[number] != self.pd_upper[number - 1]:
                raise ValueError(f"grade {self.grades[number]} does not start where grade "
                                 f"{self.grades[number - 1]} ends: the bounds must be contiguous")
            if number and self.grades[number] <= self.grades[number - 1]:
                raise ValueError("grades must increase with PD")

    def grade_of(self, pd_values) -> np.ndarray:
        """The grade of each PD (higher grade = riskier); PDs outside [0, 1] are clipped."""
        values = np.clip(np.asarray(pd_values, dtype="float64"), 0.0, 1.0)
        position = np.searchsorted(np.asarray(self.pd_upper[:-1]), values, side="right")
        return np.asarray(self.grades)[position]

    def label_of(self, grade: int) -> str:
        return self.labels[self.grades.index(int(grade))]

    def midpoint_pd(self, grade: int) -> float:
        """Geometric mid-point of a grade's bounds (arithmetic for the first): its representative PD."""
        number = self.grades.index(int(grade))
        lower, upper = self.pd_lower[number], self.pd_upper[number]
        return float(np.sqrt(lower * upper)) if lower > 0 else upper / 2

    def rows(self) -> list[dict]:
        return [{"grade": g, "grade_label": label, "pd_lower": lo, "pd_upper": hi}
                for g, label, lo, hi in zip(self.grades, self.labels, self.pd_lower, self.pd_upper, strict=True)]


def read_master_scale(path: Path | str = MASTER_SCALE_CSV) -> MasterScale:
    with Path(path).open(encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: float(row["pd_lower"]))
    return MasterScale(
        tuple(int(row["grade"]) for row in rows),
        tuple(row["grade_label"] for row in rows),
        tuple(float(row["pd_lower"]) for row in rows),
        tuple(float(row["pd_upper"]) for row in rows),
    )


@lru_cache(maxsize=1)
def master_scale() -> MasterScale:
    """The project's master scale (the dbt seed)."""
    return read_master_scale()
