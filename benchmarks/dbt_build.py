"""What a nightly (incremental) dbt build of the marts costs against a full refresh.

    CREDIT_DW_HOME=/tmp/benchhome python -m benchmarks.dbt_build --scale small --json [--keep-database]

Uses the entity-resolution benchmark's sandbox (2026-01-01 .. 2026-03-31, seed 42, generated once
under ``$CREDIT_DW_HOME/benchmarks/entity_resolution/``) and a scratch database on the warehouse
server, in one run:

1. ingest the landing files up to the day before the nightly date (``--date``, by default a
   Thursday: no month-end, no weekly CRM or bureau snapshot) and build with ``--full-refresh``
   (the history a nightly run starts from);
2. ingest that date's files (about 1% of the raw rows) and time the nightly build;
3. time a full refresh of the same business date.

A build is what the pipeline's transform stage runs, minus entity resolution (its own benchmark):
``dbt build --select staging`` then ``dbt build --exclude staging`` (models, snapshots, seeds and
data tests; unit tests run in CI, not nightly), through ``credit_dw.dbt.build``; each timed build
starts without dbt's partial-parse state, as every night's first invocation does (its ``--vars``
changed). Prints {"nightly_seconds", "full_refresh_seconds", "ratio", "nodes": the slowest nodes
of each build from dbt's run_results.json, ...}. On a shared machine compare the ratio, measured
in one run, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date, timedelta

from benchmarks.entity_resolution import sandbox_dir
from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse
from credit_dw.settings import get_settings

SLOWEST_NODES = 12
# An ordinary night of the sandbox: 2026-03-31 adds the month-end open-items report (6% of the
# raw rows), Mondays the weekly CRM and bureau snapshots.
NIGHTLY_DATE = date(2026, 3, 26)


def raw_rows(database_url: str) -> int:
    """Rows in the raw tables the marts read (every delivery, as loaded)."""
    with warehouse.connect(database_url) as conn:
        tables = [name for (name,) in conn.execute(
            "select format('%I.%I', schemaname, relname) from pg_stat_user_tables "
            "where schemaname = 'raw' and relname not in ('load_manifest', 'quarantine')")]
        return sum(conn.execute(f"select count(*) from {table}").fetchone()[0] for table in tables)


def node_timings() -> list[dict]:
    """Per node (model, test, snapshot…) seconds of the last dbt invocation, from run_results.json."""
    path = get_settings().home / "dbt" / "target" / "run_results.json"
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    return [{"node": r["unique_id"], "seconds": r["execution_time"]} for r in results]


def timed_build(database_url: str, business_date: date, *, full_refresh: bool) -> dict:
    """The transform stage's two dbt invocations, under the run id whose ingest loaded the date's
    files (as the pipeline runs them); wall seconds and per-kind node sums."""
    from credit_dw.dbt import build

    previous = os.environ.get("DBT_FULL_REFRESH")
    os.environ["DBT_FULL_REFRESH"] = "true" if full_refresh else "false"
    # Every night's first invocation parses the whole project (its --vars changed); without this
    # the full refresh would reuse the nightly's parse of the same date and look 20 s cheaper.
    (get_settings().home / "dbt" / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
    nodes: list[dict] = []
    try:
        started = time.perf_counter()
        for part in ({"select": "staging"}, {"exclude": "staging"}):
            build(business_date, database_url=database_url, run_id=f"nightly-{business_date}", **part)
            nodes += node_timings()
        seconds = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("DBT_FULL_REFRESH", None)
        else:
            os.environ["DBT_FULL_REFRESH"] = previous
    by_kind: dict[str, float] = {}
    for node in nodes:
        kind = node["node"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + node["seconds"]
    slowest = sorted(nodes, key=lambda n: -n["seconds"])[:SLOWEST_NODES]
    return {
        "seconds": round(seconds, 2),
        "node_seconds": {kind: round(total, 2) for kind, total in sorted(by_kind.items())},
        "nodes": len(nodes),
        "slowest": [{"node": n["node"].split(".", 2)[-1], "seconds": round(n["seconds"], 2)} for n in slowest],
    }


def run(scale: str, seed: int = 42, nightly_date: date = NIGHTLY_DATE, keep_database: bool = False) -> dict:
    from ingestion.load import ingest

    root = sandbox_dir(scale, seed)
    history_end = nightly_date - timedelta(days=1)
    url = scratch_database("credit_dw_bench_dbt")
    try:
        started = time.perf_counter()
        ingest(history_end, landing_dir=root / "landing", database_url=url, run_id=f"nightly-{history_end}")
        history_rows = raw_rows(url)
        first = timed_build(url, history_end, full_refresh=True)
        load_seconds = time.perf_counter() - started
        ingest(nightly_date, landing_dir=root / "landing", database_url=url, run_id=f"nightly-{nightly_date}")
        new_rows = raw_rows(url) - history_rows
        nightly = timed_build(url, nightly_date, full_refresh=False)
        full = timed_build(url, nightly_date, full_refresh=True)
    finally:
        if not keep_database:
            drop_database(url)
    return {
        "scale": scale,
        "business_date": nightly_date.isoformat(),
        "raw_rows": history_rows + new_rows,
        "new_raw_rows": new_rows,
        "new_share": round(new_rows / (history_rows + new_rows), 4),
        "nightly_seconds": nightly["seconds"],
        "full_refresh_seconds": full["seconds"],
        "ratio": round(nightly["seconds"] / full["seconds"], 3),
        "first_full_refresh_seconds": first["seconds"],
        "setup_seconds": round(load_seconds, 2),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "nightly": nightly,
        "full_refresh": full,
        **({"database": url} if keep_database else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--date", type=date.fromisoformat, default=NIGHTLY_DATE,
                        help="the nightly run's business date (history: every earlier date)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep-database", action="store_true", help="keep the scratch database for inspection")
    args = parser.parse_args()
    result = run(args.scale, args.seed, args.date, args.keep_database)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
