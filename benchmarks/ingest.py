"""Ingestion throughput against a bare COPY of the same rows and against pandas ``to_sql``.

    python -m benchmarks.ingest --json [--scale medium] [--limit-files N] [--workers N] [--rounds N]

Loads the sandbox's invoice feed (GB18030, Chinese headers) into tables of the same definition
(indexes included) in a scratch database on the warehouse server, in one run:
- ingest: ``ingestion.load.ingest()`` as the pipeline runs it, on a landing folder holding the
  invoice files (links to the sandbox's): discovery, digests, the load manifest, a transaction per
  file, re-deliveries superseding earlier deliveries, and ``--workers`` files at once (default: the
  ``ingest_workers`` setting). A CSV file that ``ingestion.arrow_csv.can_load`` accepts takes the
  vectorised path;
- ingest_serial: the same with one worker, every file in turn;
- copy: the floor, the fastest honest bare COPY of the same rows: the rows ingest loaded, already
  validated and encoded beforehand, sent in one COPY: no Python work per row, no per-file
  transaction, only the server's insert and index maintenance (and its parse). Both of its forms
  are timed, as CSV text (``COPY … FROM STDIN (FORMAT csv)``, ``copy_csv_rows_per_s``) and in the
  binary format ingest itself sends (``FORMAT binary``, encoded by pgpq beforehand,
  ``copy_binary_rows_per_s``); ``copy_rows_per_s`` is the faster;
- to_sql: the same rows as a DataFrame through ``pandas.DataFrame.to_sql``, a sample of 100,000
  rows;
- reference_ingest: ingest_serial again with every file on the reference row path (read, validate
  and ``write_row`` per row), to show what the fast path gains.
ingest, the two bare COPYs and to_sql are timed in ``--rounds`` rounds (default 3), one after
another in each; each ratio is the median of the rounds' ratios, each rate the median of its
rounds: the machine's speed drifts by ±20 % from one minute to the next, and phases a few seconds
apart see the same machine. ``per_round`` lists every round's rates.
Every timed phase starts after a ``CHECKPOINT`` (``settle``), so that none pays for flushing an
earlier phase's writes.
Prints {"rows", "copy_rows_per_s", "ingest_rows_per_s", "to_sql_rows_per_s", ...}.
``ingest_peak_rss_mb`` is the process's peak RSS right after the ingest phases: the sandbox is
generated in a child process and the baselines' data is prepared only afterwards.

    python -m benchmarks.ingest --json --scale medium --one-file 12

measures instead one large file: the scale's invoice files concatenated (12 times over: about
1.1 GB for medium), ingested with ``load_file`` and compared with a bare COPY of the rows it
loaded (exported from the table as CSV and streamed back in). Nothing of it is held in memory, so
``ingest_peak_rss_mb`` shows what streaming a file of that size costs. Its ingest is ``load_file``
on the one file in one transaction: with a single file there is nothing for workers to share.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql

from benchmarks.scratch import drop_database, scratch_database
from credit_dw import warehouse
from credit_dw.settings import get_settings
from ingestion import arrow_csv, load
from ingestion.feeds import LINEAGE_COLUMNS, feed_named
from ingestion.load import ensure_raw_schema, load_file
from ingestion.readers import FileReport, detect_encoding, read
from ingestion.validation import validate

FEED = feed_named("erp_invoices")
START, END = date(2025, 10, 1), date(2026, 10, 31)
COPY_CHUNK_BYTES = 1 << 20
TO_SQL_SAMPLE = 100_000
# Rounds of the timed phases (ingest, both bare COPYs, a to_sql sample); ratios are the median's.
ROUNDS = 3


def sandbox_files(scale: str) -> list[Path]:
    root = get_settings().home / "benchmarks" / scale
    if not (root / "landing").exists():
        print(f"generating the {scale} sandbox into {root} (once)…", flush=True)
        # In a child process, so that the generator's memory does not count as ingestion's.
        child = multiprocessing.get_context("spawn").Process(target=_generate, args=(root, scale))
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit(f"sandbox generation failed (exit code {child.exitcode})")
    return sorted((root / "landing" / "erp").glob("*/invoices_*.csv"))


def _generate(root: Path, scale: str) -> None:
    from sandbox.generator import generate

    generate(root, start=START, end=END, seed=42, scale=scale)


def load_files(conn: psycopg.Connection, files: list[Path], batch_id: int) -> tuple[int, int, float]:
    """(rows loaded, files on the fast path, seconds): ``load_file`` per file, each in a transaction
    of its own, as the pipeline loads them. Which files take the fast path is counted beforehand,
    untimed: asking ``can_load`` inside the loop would scan every file twice."""
    fast_files = sum(arrow_csv.can_load(path) for path in files)
    started = time.perf_counter()
    rows = 0
    for path in files:
        rows += load_file(conn, FEED, path, batch_id)[1]
        conn.commit()
    return rows, fast_files, time.perf_counter() - started


def invoice_landing(files: list[Path], name: str = "invoice-landing") -> Path:
    """A landing folder (<source>/<business date>/<file>) holding just these invoice files, as
    links to the sandbox's; made anew each time."""
    sandbox = files[0].parents[2]  # <scale>/landing/erp/<date>/<file>
    landing = sandbox.parent / name
    if landing.exists():
        shutil.rmtree(landing)
    for path in files:
        link = landing / path.relative_to(sandbox)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    return landing


def pipeline_ingest(
    url: str, landing: Path, workers: int, fast_path: bool = True
) -> tuple[load.IngestionSummary, float]:
    """(summary, seconds) of ``ingestion.load.ingest()`` on the landing folder into an empty raw
    schema, as the nightly run calls it; ``fast_path=False`` keeps every file on the reference row
    path."""
    with psycopg.connect(url) as conn:
        conn.execute("truncate raw.erp_invoices, raw.quarantine, raw.load_manifest restart identity")
    settle(url)
    arrow_csv.forget_verdicts()  # as a nightly run's new process starts
    can_load = arrow_csv.can_load
    if not fast_path:
        arrow_csv.can_load = lambda _path: False  # what load_file asks before taking the fast path
    try:
        started = time.perf_counter()
        summary = load.ingest(END, landing_dir=landing, database_url=url, run_id="benchmark", workers=workers)
        seconds = time.perf_counter() - started
    finally:
        arrow_csv.can_load = can_load
    if summary.failure() or {f.status for f in summary.files} - {"loaded", "superseded"}:
        raise SystemExit(f"the benchmark's ingest did not load every file: {summary.as_dict()}")
    return summary, seconds


def as_csv(rows: list[list]) -> bytes:
    """Rows of typed values as COPY's CSV: None is an unquoted empty field, NULL to the server."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if value is None else value.isoformat() if isinstance(value, date) else value
                         for value in row])
    return buffer.getvalue().encode()


def as_binary_copy(rows: list[list], columns: list[str]) -> bytes:
    """Rows of typed values in PostgreSQL's binary COPY format, as ingest sends them: Arrow columns of
    the raw table's types, encoded by pgpq (``arrow_csv.without_copy_trailer``: psycopg ends the COPY)."""
    types = {column.name: arrow_csv.arrow_type(column.pg_type) for column in FEED.columns}
    types |= {name: arrow_csv.arrow_type(pg_type.removesuffix(" not null"))
              for name, pg_type in LINEAGE_COLUMNS.items()}
    table = pa.table({name: pa.array([row[index] for row in rows], types[name]) for index, name in enumerate(columns)})
    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    data = bytearray(encoder.write_header())
    for batch in table.to_batches(max_chunksize=50_000):
        data += encoder.write_batch(batch)
    data += arrow_csv.without_copy_trailer(encoder.finish())
    return bytes(data)


def settle(url: str) -> None:
    """Start a timed phase from the same state as the others: the last phase's writes checkpointed,
    so that no phase pays for flushing another's (a bare COPY writes some 400 MB of WAL)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def bare_copy(url: str, conn: psycopg.Connection, columns: list[str], form: str, data: bytes) -> float:
    """Seconds of one COPY of the encoded rows into an empty raw.bench_copy, committed."""
    conn.execute("truncate raw.bench_copy")
    conn.commit()
    settle(url)
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(
        sql.SQL("copy raw.bench_copy ({}) from stdin (format {})").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(form))
    ) as copy:
        for offset in range(0, len(data), COPY_CHUNK_BYTES):
            copy.write(data[offset:offset + COPY_CHUNK_BYTES])
    conn.commit()
    return time.perf_counter() - started


def run(scale: str, limit_files: int | None, workers: int, rounds: int = ROUNDS) -> dict:
    files = sandbox_files(scale)[:limit_files]
    # Other work on the machine slows each phase differently (a single COPY stream gets one core at
    # most, several workers more): the load average goes with the figures.
    load_before = os.getloadavg()[0]
    landing = invoice_landing(files)
    url = scratch_database()
    try:
        with psycopg.connect(url) as conn:
            ensure_raw_schema(conn)
            for name in ("bench_copy", "bench_to_sql"):
                conn.execute(f"create table raw.{name} (like raw.erp_invoices including all)")
            conn.commit()
        fast_files = sum(arrow_csv.can_load(path) for path in files)  # untimed: ingest asks it again
        # Untimed: the process's first ingest pays some 0.2 s of one-time costs (first calls into
        # pyarrow and psycopg) that would otherwise count against whichever mode is timed first.
        warm_up = invoice_landing(files[:2], "invoice-landing-warm-up")
        pipeline_ingest(url, warm_up, workers=2)
        shutil.rmtree(warm_up)
        rss_before_ingest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        serial, serial_seconds = pipeline_ingest(url, landing, workers=1)
        summary, _ = pipeline_ingest(url, landing, workers=workers)  # the rows the baselines get
        ingest_peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _, reference_seconds = pipeline_ingest(url, landing, workers=1, fast_path=False)
        rows = sum(f.rows_loaded for f in summary.files)
        if rows != sum(f.rows_loaded for f in serial.files):
            raise SystemExit("serial and parallel ingest loaded different row counts")
        loaded = [Path(f.path) for f in summary.files if f.status == "loaded"]
        columns, prepared = prepared_rows(url, loaded)
        if len(prepared) != rows:
            raise SystemExit(f"the bare COPY's rows ({len(prepared)}) are not the {rows} ingest loaded")
        encoded = {"csv": as_csv(prepared), "binary": as_binary_copy(prepared, columns)}

        import pandas as pd
        import sqlalchemy as sa

        frame = pd.DataFrame(prepared, columns=columns)
        frame["amount"] = frame["amount"].astype(float)  # Decimal objects would be sent as text
        engine = sa.create_engine(warehouse.sqlalchemy_url(url))
        # The machine's speed drifts from minute to minute (±20 % for the same phase here), so the
        # phases are timed in rounds, each a few seconds apart from its neighbours, and every ratio
        # is the median of the rounds' ratios. to_sql is slow: a sample of TO_SQL_SAMPLE rows a
        # round, the rounds taking turns over the rows.
        measured = []
        for number in range(rounds):
            _, ingest_seconds = pipeline_ingest(url, landing, workers=workers)
            with psycopg.connect(url) as conn:
                copy_seconds = {form: bare_copy(url, conn, columns, form, data) for form, data in encoded.items()}
            start = number * TO_SQL_SAMPLE % max(len(frame) - TO_SQL_SAMPLE, 1)
            sample = frame.iloc[start:start + TO_SQL_SAMPLE]
            with psycopg.connect(url) as conn:
                conn.execute("truncate raw.bench_to_sql")
            settle(url)
            started = time.perf_counter()
            sample.to_sql("bench_to_sql", engine, schema="raw", if_exists="append", index=False, chunksize=10_000)
            to_sql_rate = len(sample) / (time.perf_counter() - started)
            copy_rates = {form: rows / seconds for form, seconds in copy_seconds.items()}
            measured.append({
                "ingest": rows / ingest_seconds, "copy_csv": copy_rates["csv"], "copy_binary": copy_rates["binary"],
                "copy": max(copy_rates.values()), "to_sql": to_sql_rate,
            })
        engine.dispose()
    finally:
        drop_database(url)
        shutil.rmtree(landing)
    serial_rate, reference_rate = rows / serial_seconds, rows / reference_seconds
    rate = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
    return {
        "scale": scale,
        "files": len(files),
        "files_loaded": len(loaded),
        "fast_path_files": fast_files,
        "workers": workers,
        "rows": rows,
        "csv_mb": round(sum(path.stat().st_size for path in files) / 2**20, 1),
        "rounds": rounds,
        "copy_rows_per_s": round(rate["copy"]),
        "copy_csv_rows_per_s": round(rate["copy_csv"]),
        "copy_binary_rows_per_s": round(rate["copy_binary"]),
        "ingest_rows_per_s": round(rate["ingest"]),
        "ingest_serial_rows_per_s": round(serial_rate),
        "to_sql_rows_per_s": round(rate["to_sql"]),
        "reference_ingest_rows_per_s": round(reference_rate),
        "ingest_vs_copy": round(statistics.median(m["ingest"] / m["copy"] for m in measured), 3),
        "ingest_vs_csv_copy": round(statistics.median(m["ingest"] / m["copy_csv"] for m in measured), 3),
        "ingest_serial_vs_copy": round(serial_rate / rate["copy"], 3),
        "ingest_vs_to_sql": round(statistics.median(m["ingest"] / m["to_sql"] for m in measured), 1),
        "ingest_vs_reference_ingest": round(rate["ingest"] / reference_rate, 1),
        "per_round": [{key: round(value) for key, value in m.items()} for m in measured],
        "rss_before_ingest_mb": round(rss_before_ingest / 1024),
        "ingest_peak_rss_mb": round(ingest_peak_rss / 1024),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def prepared_rows(url: str, loaded: list[Path]) -> tuple[list[str], list[list]]:
    """(columns, rows): the rows ingest loaded, read and validated again beforehand, untimed, as
    the bare COPYs and to_sql are to send them, under a batch of their own."""
    with psycopg.connect(url) as conn:
        batch_id = conn.execute(
            """insert into raw.load_manifest (source, feed, business_date, path, extract, delivery,
               size_bytes, sha256, status) values ('erp', 'erp_invoices', current_date, 'benchmark',
               'benchmark', 1, 0, '', 'loading') returning batch_id"""
        ).fetchone()[0]
        conn.commit()
    loaded_at = datetime.now(UTC)
    prepared = []
    for path in loaded:
        for line, _, fields in read(path, FEED, FileReport()):
            values, rejection = validate(FEED, fields)
            if rejection is None:
                prepared.append([*values, batch_id, str(path), line, loaded_at])
    return [c.name for c in FEED.columns] + list(LINEAGE_COLUMNS), prepared


def one_large_file(scale: str, copies: int) -> Path:
    """The scale's invoice files with the first one's header, as one GB18030 file, ``copies`` times
    over (written once)."""
    path = get_settings().home / "benchmarks" / f"{scale}-one-file-x{copies}" / "invoices_20261031.csv"
    if path.exists():
        return path
    files = sandbox_files(scale)
    header = files[0].read_text(encoding=detect_encoding(files[0])).splitlines()[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="gb18030", newline="") as out:
        out.write(header + "\r\n")
        for _ in range(copies):
            for source in files:
                with source.open(encoding=detect_encoding(source), newline="") as lines:
                    if next(lines, "").rstrip("\r\n") == header:  # a few deliveries have another header
                        out.writelines(lines)
    return path


def run_one_file(scale: str, copies: int) -> dict:
    path = one_large_file(scale, copies)
    url = scratch_database()
    try:
        with psycopg.connect(url) as conn:
            ensure_raw_schema(conn)
            conn.execute("create table raw.bench_copy (like raw.erp_invoices including all)")
            batch_id = conn.execute(
                """insert into raw.load_manifest (source, feed, business_date, path, extract, delivery,
                   size_bytes, sha256, status) values ('erp', 'erp_invoices', current_date, 'benchmark',
                   'benchmark', 1, 0, '', 'loading') returning batch_id"""
            ).fetchone()[0]
            conn.commit()
            rss_before_ingest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            rows, fast_files, ingest_seconds = load_files(conn, [path], batch_id)
            ingest_peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

            columns = sql.SQL(", ").join(map(sql.Identifier, [c.name for c in FEED.columns] + list(LINEAGE_COLUMNS)))
            copy_seconds = {}
            for form in ("csv", "binary"):  # the rows ingest loaded, exported and streamed back
                exported = path.with_suffix(f".loaded.{form}")
                with exported.open("wb") as out, conn.cursor() as cursor, cursor.copy(
                    sql.SQL("copy (select {} from raw.erp_invoices) to stdout (format {})").format(
                        columns, sql.SQL(form))
                ) as copy:
                    for data in copy:
                        out.write(data)
                conn.execute("truncate raw.bench_copy")
                conn.commit()
                settle(url)
                started = time.perf_counter()
                with exported.open("rb") as text, conn.cursor() as cursor, cursor.copy(
                    sql.SQL("copy raw.bench_copy ({}) from stdin (format {})").format(columns, sql.SQL(form))
                ) as copy:
                    while data := text.read(COPY_CHUNK_BYTES):
                        copy.write(data)
                conn.commit()
                copy_seconds[form] = time.perf_counter() - started
                exported.unlink()
    finally:
        drop_database(url)
    return {
        "scale": scale,
        "one_file_mb": round(path.stat().st_size / 2**20),
        "fast_path_files": fast_files,
        "rows": rows,
        "copy_rows_per_s": round(rows / min(copy_seconds.values())),
        "copy_csv_rows_per_s": round(rows / copy_seconds["csv"]),
        "copy_binary_rows_per_s": round(rows / copy_seconds["binary"]),
        "ingest_rows_per_s": round(rows / ingest_seconds),
        "ingest_vs_copy": round(min(copy_seconds.values()) / ingest_seconds, 3),
        "rss_before_ingest_mb": round(rss_before_ingest / 1024),
        "ingest_peak_rss_mb": round(ingest_peak_rss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--limit-files", type=int, default=None, help="only the first N daily files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workers", type=int, default=None,
                        help="files ingest loads at once (default: the ingest_workers setting)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="rounds of the timed phases; each ratio is the rounds' median (default %(default)s)")
    parser.add_argument("--one-file", type=int, metavar="COPIES", default=None,
                        help="measure one large file: the invoice files concatenated COPIES times")
    args = parser.parse_args()
    if args.one_file:
        result = run_one_file(args.scale, args.one_file)
    else:
        result = run(args.scale, args.limit_files, args.workers or get_settings().ingest_workers, args.rounds)
    print(json.dumps(result) if args.json else "\n".join(f"{k:>20}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
