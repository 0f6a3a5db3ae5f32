"""PD model throughput: nightly scoring of N customers and ``credit-dw model evaluate`` on a large table.

    python -m benchmarks.scoring --customers 200000 --json [--evaluate-rows 150000] [--no-shadow]

Scoring: in a scratch database on the warehouse server, a scorecard and a gradient-boosting
challenger are trained on a synthetic 13-month history (2,000 customers; not timed), made active and
shadow, then ``score_customers`` scores ``--customers`` synthetic credit profiles with both: read
the profiles, PD, grade, points, reason codes, write ``scoring.customer_scores``, PSI and migration.
Evaluate (with ``--evaluate-rows``): the 5-fold cross-validation on a synthetic messy labelled
table (``scoring.model.synthetic.labelled_table``) of that many rows.
Prints {"customers", "score_seconds", "score_customers_per_s", ..., "evaluate_seconds", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import date

from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse

AS_OF = date(2026, 11, 30)


def bench_scoring(customers: int, shadow: bool) -> dict:
    from scoring.model import registry
    from scoring.model.score import score_customers
    from scoring.model.synthetic import write_current_profiles, write_warehouse
    from scoring.model.train import train_models

    url = scratch_database()
    try:
        write_warehouse(url, customers=2000, months=13)
        started = time.perf_counter()
        trained = train_models(database_url=url, challenger=shadow)
        train_seconds = time.perf_counter() - started
        versions = {m["model_type"]: m["model_version"] for m in trained.models}
        registry.set_status(versions["scorecard"], "active", database_url=url)
        if shadow:
            registry.set_status(versions["gbm"], "shadow", database_url=url)
        write_current_profiles(url, customers, AS_OF)
        cpu = time.process_time()
        started = time.perf_counter()
        summary = score_customers(AS_OF, database_url=url, run_id="benchmark")
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        with warehouse.connect(url) as conn:
            rows = conn.execute("select count(*) from scoring.customer_scores where as_of_date = %s",
                                (AS_OF,)).fetchone()[0]
    finally:
        drop_database(url)
    return {
        "customers": summary["customers"], "models": len(summary["models"]), "score_rows_written": rows,
        "score_seconds": round(seconds, 2), "score_process_cpu_seconds": round(cpu, 2),
        "score_customers_per_s": round(summary["customers"] / seconds),
        "score_read_seconds": summary["read_seconds"],
        "score_seconds_per_model": {m["model_type"]: m["seconds_by_step"] for m in summary["models"]},
        "train_seconds_2000_customers_13_months": round(train_seconds, 2),
    }


def bench_evaluate(rows: int) -> dict:
    from scoring.model.evaluate import evaluate_csv
    from scoring.model.synthetic import labelled_table

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "labelled.csv")
        labelled_table(rows).to_csv(path, index=False)
        started = time.perf_counter()
        result = evaluate_csv(path, "default")
        seconds = time.perf_counter() - started
    return {"evaluate_rows": rows, "evaluate_seconds": round(seconds, 2), "evaluate_auc": round(result.auc, 4),
            "evaluate_folds": len(result.folds), "evaluate_features": len(result.features)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--evaluate-rows", type=int, default=0, help="also time evaluate on a table this large")
    parser.add_argument("--no-shadow", action="store_true", help="score with the active scorecard only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    if args.customers:
        result.update(bench_scoring(args.customers, shadow=not args.no_shadow))
    if args.evaluate_rows:
        result.update(bench_evaluate(args.evaluate_rows))
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>40}: {value}")


if __name__ == "__main__":
    main()
