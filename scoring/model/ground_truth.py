"""How well stored PDs rank a sandbox's known defaulters.

The sandbox simulator writes its answer key beside the landing files (``ground_truth/customers.csv``:
which ERP customer is which company; ``ground_truth/defaults.csv``: who defaulted when; see
docs/sandbox.md). The pipeline never reads it; this check does, to judge the model on data whose
truth is known: AUC, Gini and KS of one scoring date's PDs with the companies that defaulted as the
positives, over all scored customers and over those the warehouse did not yet see in default (no
90+ DPD, write-off or deregistration on the date: the ones where only the model can tell).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from credit_dw import warehouse
from scoring.model import registry
from scoring.model.metrics import discrimination
from scoring.model.sample import OUTCOME_WINDOW_DAYS


class GroundTruthError(ValueError):
    """A ground-truth folder or scoring date that cannot be checked, with the reason."""


def _read(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise GroundTruthError(f"{path}: no such file (generate the sandbox: credit-dw sandbox generate)")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise GroundTruthError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        return list(reader)


def default_dates_by_erp_customer(ground_truth: Path) -> dict[str, date]:
    """{ERP customer id: ground-truth default date} for every company that defaulted."""
    erp_of = {row["true_customer_id"]: row["erp_customer_id"]
              for row in _read(ground_truth / "customers.csv", ("true_customer_id", "erp_customer_id"))
              if row["erp_customer_id"]}
    defaults = {}
    for line, row in enumerate(_read(ground_truth / "defaults.csv", ("true_customer_id", "default_date")), start=2):
        try:
            day = date.fromisoformat(row["default_date"])
        except ValueError:
            raise GroundTruthError(f"{ground_truth / 'defaults.csv'}: line {line}: default_date "
                                   f"{row['default_date']!r} is not a date") from None
        if row["true_customer_id"] in erp_of:
            defaults[erp_of[row["true_customer_id"]]] = day
    return defaults


def _group(pds: np.ndarray, positive: np.ndarray) -> dict:
    out = {"customers": int(len(pds)), "defaulters": int(positive.sum())}
    if 0 < positive.sum() < len(pds):
        out.update({key: round(value, 4) for key, value in discrimination(positive.astype(np.int8), pds).items()})
        out["median_pd_defaulters"] = round(float(np.median(pds[positive])), 4)
        out["median_pd_others"] = round(float(np.median(pds[~positive])), 4)
    return out


def sandbox_discrimination(ground_truth: Path, as_of_date: date, *, model_version: str | None = None,
                           database_url: str | None = None) -> dict:
    """AUC of the PDs scored on ``as_of_date`` (default: the active model's) against the ground truth.

    Positives: companies whose ground-truth default falls on or before the scoring date
    (``defaulted_by_date``) and, where the sandbox runs that far, within the 12 months after it
    (``defaulting_within_12m``, the PD's own horizon)."""
    defaults = default_dates_by_erp_customer(Path(ground_truth))
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        if model_version is None:
            active = registry.models(conn, status="active")
            if not active:
                raise GroundTruthError("no active model: pass --version, or train one (credit-dw model train)")
            model_version = active[0].model_version
        rows = conn.execute(
            # profiles are keyed by the ERP customer id or by the master id that links its ERP accounts
            """select scores.pd, scores.is_in_default, scores.customer_id || array_agg(xref.source_record_id)
               from scoring.customer_scores as scores
               left join marts.customer_source_xref as xref
                   on xref.customer_id = scores.customer_id and xref.source_system = 'erp'
               where scores.as_of_date = %s and scores.model_version = %s
               group by scores.customer_id, scores.pd, scores.is_in_default""",
            (as_of_date, model_version)).fetchall()
    if not rows:
        raise GroundTruthError(f"model {model_version} scored nobody on {as_of_date}")
    pds = np.array([r[0] for r in rows], dtype=float)
    in_default = np.array([bool(r[1]) for r in rows])
    # a master customer may have several ERP accounts: its default date is the earliest of theirs
    first_default = [min((defaults[e] for e in (r[2] or []) if e in defaults), default=None) for r in rows]
    horizon = as_of_date + timedelta(days=OUTCOME_WINDOW_DAYS)
    by_date = np.array([d is not None and d <= as_of_date for d in first_default])
    within = np.array([d is not None and as_of_date < d <= horizon for d in first_default])
    latest_truth = max(defaults.values(), default=None)
    result = {
        "as_of_date": as_of_date.isoformat(), "model_version": model_version,
        "defaulted_by_date": {"all": _group(pds, by_date), "not_in_default_on_date": _group(
            pds[~in_default], by_date[~in_default])},
    }
    if within.any():
        performing = ~by_date
        result["defaulting_within_12m"] = _group(pds[performing], within[performing])
    result["ground_truth_defaults_until"] = None if latest_truth is None else latest_truth.isoformat()
    return result
