"""Pairwise precision and recall of a resolution against a ground truth.

Over the records of the ground truth: predicted pairs are pairs of records sharing a (non-null)
predicted customer; true pairs share a true customer. A record with no predicted customer (an
unmatched bank entry) or missing from the prediction forms no predicted pair, so its true pairs
count as misses. Records the ground truth does not list (e.g. credits that are not customer
payments) are left out.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import psycopg


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(predicted: dict[tuple[str, str], str | None], truth: dict[tuple[str, str], str]) -> dict:
    """``predicted``/``truth``: (source_system, source_record_id) -> customer id."""
    true_sizes = Counter(truth.values())
    pred_sizes: Counter = Counter()
    cells: Counter = Counter()
    per_source: dict[str, Counter] = {}
    for key, true_id in truth.items():
        pred = predicted.get(key)
        stats = per_source.setdefault(key[0], Counter())
        stats["records"] += 1
        if pred is None:
            stats["unlinked"] += 1
            continue
        pred_sizes[pred] += 1
        cells[(pred, true_id)] += 1
    true_pairs = sum(_pairs(n) for n in true_sizes.values())
    pred_pairs = sum(_pairs(n) for n in pred_sizes.values())
    tp = sum(_pairs(n) for n in cells.values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # Per source: of each source's records, how many sit with the majority of their true customer's
    # records (a record-level view that is easier to read than pairs).
    majority: dict[str, str] = {}
    by_true: dict[str, Counter] = {}
    for (pred, true_id), n in cells.items():
        by_true.setdefault(true_id, Counter())[pred] = n
    for true_id, counter in by_true.items():
        majority[true_id] = counter.most_common(1)[0][0]
    for key, true_id in truth.items():
        pred = predicted.get(key)
        if pred is not None and majority.get(true_id) == pred:
            per_source[key[0]]["correct"] += 1
    breakdown = {
        source: {"records": s["records"], "unlinked": s["unlinked"],
                 "with_majority": round(s["correct"] / s["records"], 4) if s["records"] else None}
        for source, s in sorted(per_source.items())
    }
    return {"records": len(truth), "true_pairs": true_pairs, "predicted_pairs": pred_pairs, "true_positive_pairs": tp,
            "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5),
            "per_source": breakdown}


def read_truth(path: Path) -> dict[tuple[str, str], str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(row["source_system"], row["source_record_id"]): row["true_customer_id"]
                for row in csv.DictReader(handle)}


def read_xref(conn: psycopg.Connection) -> dict[tuple[str, str], str | None]:
    return {(s, r): c for s, r, c in conn.execute(
        "select source_system, source_record_id, customer_id from mdm.customer_xref")}


def per_source_pairs(predicted: dict, truth: dict) -> dict:
    """Precision/recall of the pairs between each two sources (erp–crm, bank–erp, …)."""
    systems = sorted({k[0] for k in truth})
    result = {}
    for i, a in enumerate(systems):
        for b in systems[i:]:
            subset = {k: v for k, v in truth.items() if k[0] in (a, b)}
            scores = pairwise({k: predicted.get(k) for k in subset}, subset)
            if a != b:
                # pairs across the two sources only: subtract the within-source pairs
                only_a = pairwise({k: predicted.get(k) for k in subset if k[0] == a},
                                  {k: v for k, v in subset.items() if k[0] == a})
                only_b = pairwise({k: predicted.get(k) for k in subset if k[0] == b},
                                  {k: v for k, v in subset.items() if k[0] == b})
                tp = scores["true_positive_pairs"] - only_a["true_positive_pairs"] - only_b["true_positive_pairs"]
                pp = scores["predicted_pairs"] - only_a["predicted_pairs"] - only_b["predicted_pairs"]
                t = scores["true_pairs"] - only_a["true_pairs"] - only_b["true_pairs"]
            else:
                tp, pp, t = scores["true_positive_pairs"], scores["predicted_pairs"], scores["true_pairs"]
            if t or pp:
                result[f"{a}-{b}"] = {"precision": round(tp / pp, 5) if pp else None,
                                      "recall": round(tp / t, 5) if t else None, "true_pairs": t}
    return result
