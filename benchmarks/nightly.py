"""The end-to-end nightly pipeline at sandbox scales: wall time, CPU time, peak memory, rows loaded
and seconds per stage.

    CREDIT_DW_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres CREDIT_DW_HOME=/tmp/nightlybench \\
      python -m benchmarks.nightly --scale tiny --scale small [--scale medium] [--json] [--keep-database]

Per scale: the sandbox (seed 42, 2026-01-01 .. 2026-03-31) is generated once under
``$CREDIT_DW_HOME/benchmarks/nightly/``; a scratch warehouse database and its Airflow metadata
database are created on the server of ``CREDIT_DW_DATABASE_URL`` (Airflow's migration is done
beforehand and not timed); then two ``credit-dw nightly`` runs, each a process of its own:

- **first night** (2026-03-30): a fresh warehouse, every pending landing file of the quarter is
  loaded, then the full dbt build, entity resolution, publication, scoring and report;
- **next night** (2026-03-31): one day's new files, the incremental build.

Measured per run: wall time; CPU time (user + system) of the ``credit-dw`` process and its children
(``os.wait4``; PostgreSQL's own backends are not our children and are not counted); peak RSS of the
process tree (psutil, sampled every 0.2 s) and the largest single process's peak (rusage); rows
loaded and quarantined (``raw.load_manifest`` of the run); seconds per stage (``ops.stage_runs``).
The growth exponent between the two largest scales measured is log(time ratio) / log(rows ratio)
of the first nights: 1 is linear.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import psutil
import psycopg

from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse
from credit_dw.settings import get_settings

START, END = date(2026, 1, 1), date(2026, 3, 31)
FIRST_NIGHT, NEXT_NIGHT = date(2026, 3, 30), END
SEED = 42
CLI = str(Path(sys.executable).parent / "credit-dw")
SAMPLE_SECONDS = 0.2


@dataclass
class Night:
    scale: str
    business_date: str
    state: str
    wall_seconds: float
    cpu_seconds: float
    peak_tree_rss_mb: float
    peak_process_rss_mb: float
    files: int
    rows_loaded: int
    rows_quarantined: int
    load_average: tuple[float, float]  # 1-minute load average at start and end
    stages: dict[str, float] = field(default_factory=dict)


def sandbox_dir(scale: str) -> Path:
    """The scale's sandbox, generated on first use, in a child process (its memory is not ours)."""
    root = get_settings().home / "benchmarks" / "nightly" / f"{scale}-{SEED}-{START}-{END}"
    if not (root / "landing").exists():
        print(f"generating the {scale} sandbox into {root} (once)…", file=sys.stderr, flush=True)
        child = multiprocessing.get_context("spawn").Process(target=_generate, args=(root, scale))
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit(f"sandbox generation failed (exit code {child.exitcode})")
    return root


def _generate(root: Path, scale: str) -> None:
    from sandbox.generator import generate

    generate(root, start=START, end=END, seed=SEED, scale=scale)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a child that ended between listing and reading
            continue
    return total


def run_night(scale: str, business_date: date, env: dict[str, str], database_url: str, log_path: Path) -> Night:
    """One ``credit-dw nightly`` process, measured from outside."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with log_path.open("ab") as log_file:
        child = subprocess.Popen([CLI, "nightly", "--date", business_date.isoformat()], env=env,
                                 stdout=log_file, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        peak_tree = 0
        while True:
            # wait4 reaps the child itself and returns its rusage, which covers its reaped children too
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            with contextlib.suppress(psutil.Error):  # the child ended between wait4 and the sample
                peak_tree = max(peak_tree, _tree_rss(watched))
            time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    with psycopg.connect(database_url) as conn:
        run_id = conn.execute(
            "select run_id from ops.stage_runs where business_date = %s order by started_at desc limit 1",
            (business_date,),
        ).fetchone()[0]
        stages = {stage: float(seconds or 0) for stage, seconds in conn.execute(
            "select stage, seconds from ops.stage_runs where run_id = %s order by started_at", (run_id,))}
        files, loaded, quarantined = conn.execute(
            """select count(*), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0)
               from raw.load_manifest where run_id = %s and status = 'loaded'""",
            (run_id,),
        ).fetchone()
    return Night(
        scale=scale,
        business_date=business_date.isoformat(),
        state="success" if child.returncode == 0 else f"failed (exit {child.returncode}, see {log_path})",
        wall_seconds=round(wall, 1),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 1),
        peak_tree_rss_mb=round(peak_tree / 2**20),
        peak_process_rss_mb=round(usage.ru_maxrss / 1024),  # Linux reports kB
        files=files,
        rows_loaded=int(loaded),
        rows_quarantined=int(quarantined),
        load_average=(round(load_before, 1), round(os.getloadavg()[0], 1)),
        stages=stages,
    )


def measure_scale(scale: str, keep_database: bool) -> list[Night]:
    root = sandbox_dir(scale)
    database_url = scratch_database("credit_dw_bench_nightly")
    airflow_url = warehouse.with_database(database_url, f"{warehouse.connection_parts(database_url)['dbname']}_airflow")
    warehouse.ensure_database(airflow_url)
    env = {**os.environ, "CREDIT_DW_DATABASE_URL": database_url, "CREDIT_DW_AIRFLOW_DATABASE_URL": airflow_url,
           "CREDIT_DW_LANDING_DIR": str(root / "landing")}
    log_path = get_settings().home / "benchmarks" / "nightly" / f"{scale}.log"
    try:
        # Airflow's metadata schema is created once per installation, not nightly: not timed.
        subprocess.run([sys.executable, "-c", "from credit_dw.orchestrator import configure_airflow_environment, "
                        "migrate_metadata_database; configure_airflow_environment(); migrate_metadata_database()"],
                       env=env, check=True, capture_output=True)
        nights = []
        for day in (FIRST_NIGHT, NEXT_NIGHT):
            night = run_night(scale, day, env, database_url, log_path)
            # each night as soon as it is measured: a long run interrupted later still leaves its figures
            print(json.dumps(asdict(night)), file=sys.stderr, flush=True)
            nights.append(night)
            if night.state != "success":
                break
        return nights
    finally:
        if keep_database:
            print(f"kept {database_url} and {airflow_url}", file=sys.stderr)
        else:
            drop_database(database_url)
            drop_database(airflow_url)


def growth_exponents(nights: list[Night]) -> dict | None:
    """log(time ratio) / log(rows ratio) between the first nights of the two largest scales."""
    firsts = sorted((n for n in nights if n.business_date == FIRST_NIGHT.isoformat() and n.state == "success"),
                    key=lambda n: n.rows_loaded)
    if len(firsts) < 2 or firsts[-1].rows_loaded == firsts[-2].rows_loaded:
        return None
    small, large = firsts[-2], firsts[-1]
    size = math.log(large.rows_loaded / small.rows_loaded)
    return {
        "from": small.scale,
        "to": large.scale,
        "rows_ratio": round(large.rows_loaded / small.rows_loaded, 2),
        "wall": round(math.log(large.wall_seconds / small.wall_seconds) / size, 2),
        "cpu": round(math.log(large.cpu_seconds / small.cpu_seconds) / size, 2),
        "stages": {
            stage: round(math.log(large.stages[stage] / small.stages[stage]) / size, 2)
            for stage in large.stages if small.stages.get(stage) and large.stages[stage]
        },
    }


def table(nights: list[Night]) -> str:
    stages = list(dict.fromkeys(stage for night in nights for stage in night.stages))
    header = ["scale", "night", "state", "wall s", "CPU s", "tree RSS MB", "rows loaded", "quarantined", *stages]
    lines = [header]
    for night in nights:
        lines.append([night.scale, night.business_date, night.state.split(" ")[0], f"{night.wall_seconds:.0f}",
                      f"{night.cpu_seconds:.0f}", str(night.peak_tree_rss_mb), f"{night.rows_loaded:,}",
                      f"{night.rows_quarantined:,}", *(f"{night.stages.get(s, 0):.1f}" for s in stages)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", action="append", choices=["tiny", "small", "medium", "large"],
                        help="repeatable; default: tiny and small")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep-database", action="store_true", help="keep the scratch databases for inspection")
    args = parser.parse_args()
    nights: list[Night] = []
    for scale in args.scale or ["tiny", "small"]:
        nights += measure_scale(scale, args.keep_database)
    growth = growth_exponents(nights)
    if args.json:
        print(json.dumps({"nights": [asdict(n) for n in nights], "growth_exponent": growth}, indent=2))
        return
    print(table(nights))
    if growth:
        print(f"growth exponent {growth['from']} → {growth['to']} (rows × {growth['rows_ratio']}): "
              f"wall {growth['wall']}, CPU {growth['cpu']}; per stage {growth['stages']}")


if __name__ == "__main__":
    main()
