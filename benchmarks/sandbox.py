"""Wall time and peak memory of generating the sandbox company.

    python -m benchmarks.sandbox --scale medium --json

Generates 13 months (by default) into a temporary directory, removed afterwards unless --out is
given. Peak memory is this process's maximum resident set size (``resource.getrusage``), so run
one measurement per process. Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sandbox.generator import SCALES, generate


def _months_later(start: date, months: int) -> date:
    """The day before the same day ``months`` later: 13 months from 2025-10-01 end 2026-10-31."""
    month_index = start.month - 1 + months
    return date(start.year + month_index // 12, month_index % 12 + 1, start.day) - timedelta(days=1)


def measure(scale: str, start: date, end: date, seed: int, out: Path) -> dict:
    began = time.perf_counter()
    stats = generate(out, start=start, end=end, seed=seed, scale=scale)
    seconds = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "scale": scale, "start": start.isoformat(), "end": end.isoformat(), "seed": seed,
        "seconds": round(seconds, 1), "peak_rss_mb": round(peak_kib / 1024), **stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(SCALES), default="medium")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 10, 1))
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="keep the output here instead of a temporary directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    end = _months_later(args.start, args.months)
    if args.out:
        result = measure(args.scale, args.start, end, args.seed, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="sandbox-benchmark-") as folder:
            result = measure(args.scale, args.start, end, args.seed, Path(folder))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
