"""Entity-resolution quality and speed against the sandbox's ground truth.

    python -m benchmarks.entity_resolution --scale small --json [--keep-database]

Generates the sandbox once (reused from ``$CREDIT_DW_HOME/benchmarks/entity_resolution/<scale>``),
loads it into a scratch database on the warehouse server (ingestion, then ``dbt build --select
staging``), runs ``mdm.resolve.resolve_entities`` and compares ``mdm.customer_xref`` with
``ground_truth/entities.csv`` pairwise: predicted pairs are records sharing a customer, true pairs
records sharing a true customer; unmatched bank entries count as misses. Prints
{"scale", "records", "precision", "recall", "f1", "seconds", "per_source", ...}; ``seconds`` is
the resolution step alone (wall time; ``cpu_seconds`` its CPU time, which is what to compare on a
shared machine), ``load_seconds`` the ingestion and staging build before it.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date
from pathlib import Path

import psycopg

from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse
from credit_dw.settings import get_settings

START, END = date(2026, 1, 1), date(2026, 3, 31)


def sandbox_dir(scale: str, seed: int = 42) -> Path:
    """The benchmark's sandbox for a scale, generated on first use."""
    from sandbox.generator import generate

    root = get_settings().home / "benchmarks" / "entity_resolution" / f"{scale}-{seed}"
    if not (root / "ground_truth" / "entities.csv").exists():
        print(f"generating the {scale} sandbox into {root} (once)…", flush=True)
        generate(root, start=START, end=END, seed=seed, scale=scale)
    return root


def load_sandbox(database_url: str, root: Path, business_date: date) -> dict:
    """Ingest the sandbox's landing files up to ``business_date`` and build the staging views.

    Tests of marts that merely reference a staging model are left out (dbt's "cautious" indirect
    selection): the marts do not exist yet in a scratch database."""
    import os

    from credit_dw.dbt import build
    from ingestion.load import ingest

    summary = ingest(business_date, landing_dir=root / "landing", database_url=database_url)
    previous = os.environ.get("DBT_INDIRECT_SELECTION")
    os.environ["DBT_INDIRECT_SELECTION"] = "cautious"
    try:
        result = build(business_date, database_url=database_url, select="staging")
    finally:
        if previous is None:
            os.environ.pop("DBT_INDIRECT_SELECTION", None)
        else:
            os.environ["DBT_INDIRECT_SELECTION"] = previous
    return {"files": len(summary.files), "staging_models": result.models_built}


def evaluate(database_url: str, root: Path) -> dict:
    from mdm.evaluate import pairwise, per_source_pairs, read_truth, read_xref

    truth = read_truth(root / "ground_truth" / "entities.csv")
    with psycopg.connect(warehouse.libpq_url(database_url)) as conn:
        predicted = read_xref(conn)
    scores = pairwise(predicted, truth)
    scores["per_source_pairs"] = per_source_pairs(predicted, truth)
    scores["xref_records"] = len(predicted)
    scores["truth_records_missing_from_xref"] = sum(1 for key in truth if key not in predicted)
    return scores


def run(scale: str, seed: int = 42, keep_database: bool = False) -> dict:
    from mdm.resolve import resolve_entities

    root = sandbox_dir(scale, seed)
    url = scratch_database()
    try:
        started = time.perf_counter()
        loaded = load_sandbox(url, root, END)
        load_seconds = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = resolve_entities(url, run_id=f"benchmark-{scale}")
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        scores = evaluate(url, root)
    finally:
        if not keep_database:
            drop_database(url)
    return {
        "scale": scale,
        "records": scores["records"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),  # this process, DuckDB's threads included
        "load_seconds": round(load_seconds, 2),
        "per_source": scores["per_source"],
        "per_source_pairs": scores["per_source_pairs"],
        "true_pairs": scores["true_pairs"],
        "predicted_pairs": scores["predicted_pairs"],
        "customers": summary["customers"],
        "bank_unmatched": summary["bank_unmatched"],
        "review_queue": summary["review_queue"],
        "match_methods": summary["match_methods"],
        "files_loaded": loaded["files"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **({"database": url} if keep_database else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep-database", action="store_true", help="keep the scratch database for inspection")
    args = parser.parse_args()
    result = run(args.scale, args.seed, args.keep_database)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(f"{k:>18}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
