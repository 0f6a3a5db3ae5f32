"""Turning any labelled table into model input: the target as 0/1 (1 = bad), the feature columns
typed as numeric or categorical, and the columns that cannot be features set aside with the reason.

Used by ``credit-dw model evaluate`` on arbitrary public credit data sets, so it is defensive:
string or 0/1 targets, ids, constant and all-missing columns, numbers written as text ("12.5%",
"1,234"), high-cardinality text, booleans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# A text column is read as numbers when at least this share of its non-empty values parse.
NUMERIC_TEXT_SHARE = 0.95
# A text column with more distinct values than this share of its rows is free text or a key.
MAX_CATEGORICAL_UNIQUE_SHARE = 0.5
MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "?", "#n/a", "<na>"}  # not "none": a real category in credit data
ID_NAMES = {"id", "index", "unnamed_0", "unnamed", "rowid", "row_id", "row", "row_number", "key", "uuid"}


class DataError(ValueError):
    """The table cannot be modelled as asked (missing target, one class, no usable feature)."""


@dataclass
class PreparedTable:
    X: pd.DataFrame  # feature columns only: float64 for numeric, object (str or None) for categorical
    y: np.ndarray  # 1 = bad (the event), 0 = good
    numeric: list[str]
    categorical: list[str]
    bad_value: str
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature
    rows_without_target: int = 0

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def _label(value) -> str:
    """A target value as text: 1, 1.0 and "1" all read "1"; True reads "true"."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def target_vector(series: pd.Series, bad_value: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(mask of rows with a target, y as 0/1 on those rows, the bad value used).

    ``bad_value`` names the event class (compared as text, case-insensitively when no exact match);
    by default it is 1 (or "true", "yes", "bad", "default") when the target has such a class, else the
    minority class. Rows with an empty target are left out.
    """
    labels = series.map(lambda v: None if _is_missing(v) else _label(v))
    present = labels.notna().to_numpy()
    values = labels[present]
    classes = values.value_counts()
    if len(classes) == 0:
        raise DataError(f"target column {series.name!r} has no values")
    if bad_value is not None:
        wanted = _label(bad_value)
        if wanted not in classes.index:
            lowered = {str(c).lower(): c for c in classes.index}
            if wanted.lower() not in lowered:
                shown = ", ".join(repr(c) for c in list(classes.index)[:10])
                raise DataError(f"bad value {bad_value!r} does not occur in target {series.name!r} (values: {shown})")
            wanted = lowered[wanted.lower()]
    else:
        if len(classes) > 2:
            shown = ", ".join(repr(c) for c in list(classes.index)[:10])
            raise DataError(
                f"target {series.name!r} has {len(classes)} classes ({shown}); say which one is bad with --bad-value"
            )
        wanted = _default_bad_value(list(classes.index))
    y = (values == wanted).to_numpy().astype(np.int8)
    if y.min() == y.max():
        raise DataError(
            f"target {series.name!r} has a single class ({classes.index[0]!r}): nothing to discriminate"
        )
    return present, y, str(wanted)


BAD_NAMES = {"bad", "default", "defaulted", "yes", "y", "true", "charged off", "delinquent", "event", "positive"}


def _default_bad_value(classes: list[str]) -> str:
    """1 for a 0/1 target, "true" for booleans, the one class named like an event ("bad", "default",
    "yes"), else the minority class (``classes`` is ordered by frequency, most frequent first)."""
    lowered = {str(c).lower(): c for c in classes}
    if set(lowered) == {"0", "1"}:
        return lowered["1"]
    if set(lowered) == {"false", "true"}:
        return lowered["true"]
    named = [c for c in classes if str(c).lower() in BAD_NAMES]
    if len(named) == 1:
        return named[0]
    return classes[-1]


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


def _normalised_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def id_like_reason(name: str, column: pd.Series) -> str | None:
    """Why a column is an identifier rather than a feature, or None."""
    normalised = _normalised_name(name)
    if normalised in ID_NAMES or normalised.startswith("unnamed_"):
        return "identifier (by name)"
    if normalised.endswith("_id") or re.search(r"[a-z](ID|Id)$", str(name)):
        return "identifier (by name)"
    values = column.dropna()
    if (normalised.startswith("id_") or "_id_" in normalised) and values.nunique() > max(50, 0.5 * len(values)):
        return "identifier (by name and cardinality)"
    if len(values) < 20 or values.nunique() < len(values):
        return None
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        if not (numbers == np.round(numbers)).all():
            return None  # unique measurements (amounts, ratios) are features
        # unique integers spanning about as many values as there are rows, or in file order: a key
        if numbers.max() - numbers.min() + 1 <= 1.5 * len(numbers):
            return "identifier (unique consecutive integers)"
        if numbers.is_monotonic_increasing or numbers.is_monotonic_decreasing:
            return "identifier (unique sorted integers)"
        return None
    return "identifier (unique text per row)"


def _as_numbers(column: pd.Series) -> pd.Series | None:
    """Text that is really numbers ("12.5%", "1,234", " 7 "): as floats; else None."""
    text = column.astype("string").str.strip()
    present = text.notna() & ~text.str.lower().isin(MISSING_TOKENS)
    if not present.any():
        return None
    cleaned = text[present].str.replace("%", "", regex=False).str.replace(" ", "", regex=False)
    cleaned = cleaned.str.replace(r"^([-+]?)[$€£¥]", r"\1", regex=True)
    with_comma = cleaned[cleaned.str.contains(",", regex=False)]
    decimal_comma = (
        len(with_comma) > 0 and not with_comma.str.contains(".", regex=False).any()
        and not with_comma.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+").all()
    )  # "1,5" and "12,75" (European decimals) rather than "1,234" (thousands)
    cleaned = cleaned.str.replace(",", "." if decimal_comma else "", regex=False)
    numbers = pd.to_numeric(cleaned, errors="coerce")
    if numbers.notna().mean() < NUMERIC_TEXT_SHARE:
        return None
    out = pd.Series(np.nan, index=column.index, dtype="float64")
    out[present] = numbers.astype("float64")
    return out


def _as_categories(column: pd.Series) -> pd.Series:
    """Category labels as Python str, empty/"NA"-like values as None."""
    def one(value):
        if _is_missing(value):
            return None
        return _label(value)

    return column.map(one).astype(object)


def type_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str], dict[str, str]]:
    """Split columns into numeric and categorical features; say why the others are dropped."""
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: dict[str, str] = {}
    columns: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column, pd.DataFrame):  # duplicated header
            dropped[str(name)] = "duplicated column name"
            continue
        if pd.api.types.is_bool_dtype(column):
            values, kind = column.astype("float64"), "numeric"
        elif pd.api.types.is_numeric_dtype(column):
            values, kind = column.astype("float64").replace([np.inf, -np.inf], np.nan), "numeric"
        elif pd.api.types.is_datetime64_any_dtype(column):
            dropped[str(name)] = "date/time column"
            continue
        else:
            parsed = _as_numbers(column)
            if parsed is not None:
                values, kind = parsed.replace([np.inf, -np.inf], np.nan), "numeric"
            else:
                values, kind = _as_categories(column), "categorical"
        reason = id_like_reason(str(name), values)
        if reason:
            dropped[str(name)] = reason
            continue
        present = values.notna()
        if not present.any():
            dropped[str(name)] = "all values missing"
            continue
        distinct = values[present].nunique()
        if distinct <= 1 and present.all():
            dropped[str(name)] = "constant"
            continue
        if kind == "categorical" and distinct > max(50, MAX_CATEGORICAL_UNIQUE_SHARE * present.sum()):
            dropped[str(name)] = f"free text or key ({distinct} distinct values)"
            continue
        columns[str(name)] = values
        (numeric if kind == "numeric" else categorical).append(str(name))
    typed = pd.DataFrame(columns, index=frame.index)
    return typed, numeric, categorical, dropped


def prepare_table(frame: pd.DataFrame, target: str, bad_value: str | None = None) -> PreparedTable:
    """The feature matrix and the 0/1 target of a labelled table (rows without a target dropped)."""
    if target not in frame.columns:
        lowered = {str(c).lower(): c for c in frame.columns}
        if target.lower() not in lowered:
            shown = ", ".join(map(str, list(frame.columns)[:30]))
            raise DataError(f"target column {target!r} not found; columns: {shown}")
        target = lowered[target.lower()]
    present, y, used_bad = target_vector(frame[target], bad_value)
    features = frame.loc[present].drop(columns=[target]).reset_index(drop=True)
    X, numeric, categorical, dropped = type_features(features)
    if not numeric and not categorical:
        raise DataError(f"no usable feature column besides the target ({dropped or 'no other columns'})")
    return PreparedTable(X, y, numeric, categorical, used_bad, dropped, int((~present).sum()))


def read_table(path) -> pd.DataFrame:
    """A CSV (comma, semicolon or tab separated, UTF-8 with or without BOM) as text-preserving frame."""
    from pathlib import Path

    path = Path(path)
    with path.open("r", encoding="utf-8-sig", errors="strict") as handle:
        head = handle.read(65536)
    first = head.splitlines()[0] if head else ""
    separator = max([",", ";", "\t", "|"], key=first.count)
    return pd.read_csv(path, sep=separator, encoding="utf-8-sig", low_memory=False,
                       keep_default_na=True, skipinitialspace=True)
