"""A seeded simulator of a trading company's source systems: ERP, CRM, bank and bureau.

It writes the files those systems would drop, one folder per source and business date
(``landing/<source>/<YYYY-MM-DD>/…``), and what only evaluations may read under ``ground_truth/``.
Same seed and arguments give byte-identical output: the simulation draws from one
``random.Random(seed)`` in a fixed order, defects from per-file streams derived from the seed, no
wall-clock time is written and nothing iterates a set. See docs/sandbox.md.
"""

from __future__ import annotations

import gc
import random
import shutil
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from sandbox.defects import Injector, validate_rates
from sandbox.landing import Landing
from sandbox.population import Population, build_population
from sandbox.simulation import WARM_UP_DAYS, Counts, NullSink, Simulation
from sandbox.truth import GroundTruth

SCALES = {"tiny": 30, "small": 2_000, "medium": 20_000, "large": 200_000}
CUSTOMER_HISTORY_YEARS = 12  # the oldest customers were created this long before the start


@contextmanager
def _cyclic_gc_paused():
    """The simulation allocates millions of short-lived objects and keeps hundreds of thousands
    alive; Python's cyclic collector would rescan the live ones again and again (half the run time
    at medium scale) and find nothing to free: the records hold no reference cycles, so reference
    counting frees everything. It is paused for the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(start: date, end: date, scale: str) -> None:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")


def _population(rng: random.Random, start: date, end: date, scale: str) -> Population:
    first = start.toordinal()
    return build_population(
        rng, SCALES[scale], history_start=(start - timedelta(days=365 * CUSTOMER_HISTORY_YEARS)).toordinal(),
        sim_start=first - WARM_UP_DAYS, end=end.toordinal(),
    )


def portfolio(*, start: date, end: date, seed: int = 42, scale: str = "tiny") -> Population:
    """The customers ``generate`` would simulate with these arguments, hidden risk and default
    dates included, without simulating or writing anything (cheap: for calibration and tests)."""
    _check(start, end, scale)
    return _population(random.Random(seed), start, end, scale)


def generate(
    out: Path,
    *,
    start: date,
    end: date,
    seed: int = 42,
    scale: str = "tiny",
    defect_rates: Mapping[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    write_files: bool = True,
) -> dict:
    """Write the sandbox's landing files and ground truth for business dates start..end.

    ``defect_rates`` overrides the catalogue's default rates by defect name
    (``sandbox.defects.CATALOGUE``). ``progress(done, total)`` is called after each simulated day.
    ``out/landing`` and ``out/ground_truth`` are replaced, so that a tree never mixes two runs.
    With ``write_files=False`` the simulation runs without writing anything (for measurements).
    """
    _check(start, end, scale)
    rates = validate_rates(defect_rates)
    landing_dir, truth_dir = out / "landing", out / "ground_truth"
    with _cyclic_gc_paused():
        rng = random.Random(seed)
        population = _population(rng, start, end, scale)
        if not write_files:
            counts = Simulation(population, rng, start=start.toordinal(), end=end.toordinal(), sink=NullSink()).run(
                progress)
            return _stats(population, counts, 0, landing_dir, start, end)
        for folder in (landing_dir, truth_dir):
            if folder.exists():
                shutil.rmtree(folder)
        truth = GroundTruth(truth_dir)
        try:
            landing = Landing(out, Injector(seed, rates), truth)
            simulation = Simulation(population, rng, start=start.toordinal(), end=end.toordinal(), sink=landing)
            counts = simulation.run(progress)
            truth.population(population, end.toordinal())
        finally:
            truth.close()
    return _stats(population, counts, landing.files, landing_dir, start, end)


def _stats(population: Population, counts: Counts, files: int, landing_dir: Path, start: date, end: date) -> dict:
    first, last = start.toordinal(), end.toordinal()
    return {
        "customers": len(population.customers),
        "days": (end - start).days + 1,
        "invoices": counts.invoices,
        "payments": counts.payments,
        "bank_entries": counts.bank_entries,
        "defaults": sum(1 for c in population.customers if first <= (c.default_day or 0) <= last),
        # customers over their limit, averaged over the month-ends in the window
        "over_limit_share": round(counts.over_limit / max(1, counts.over_limit_checks), 4),
        "files": files,
        "landing": str(landing_dir),
    }
