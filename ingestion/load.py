"""Load landing files into the ``raw`` schema: discover, register in the load manifest, validate,
COPY good rows, quarantine bad ones, all of one file in one transaction.

Guarantees:
- an identical file (same sha256) is never loaded twice: a copy is recorded as ``duplicate``;
- a re-delivery of the same extract (``name__2.ext``, or the same path with new content) replaces
  the rows of earlier deliveries; an earlier delivery still waiting is recorded as ``superseded``;
- a file that cannot be parsed leaves nothing behind but a ``failed`` manifest entry with the
  reason, and the other files still load;
- for every loaded file, rows read = rows loaded + rows quarantined (asserted and recorded);
- personal data is encrypted (and blind-indexed) before it is written, in raw and in quarantine;
- one ingest run at a time per warehouse: a second run (two nightly runs, or a manual ``credit-dw
  ingest`` beside the nightly one) waits on a PostgreSQL advisory lock until the first ends, then
  finds the files it handled in the manifest and loads nothing twice. Waiting rather than refusing,
  so that neither run fails for the other; the lock goes with the first run's connection, so a
  killed run never leaves it held;
- within a run, several files load at once (``ingest_workers``), each on a connection and in a
  transaction of its own; files whose outcomes depend on one another (deliveries of one extract,
  identical files) load one after another, so the outcome is the one of loading every file in turn;
- while a connection is busy with one file (its COPY, commits and manifest statements), the next
  small CSV file it is to load is already being parsed, validated and encoded on a thread beside it
  (``arrow_csv.encode_ahead``: client work only, with the same outcome as encoding it as it streams).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from credit_dw import warehouse
from credit_dw.settings import get_settings
from ingestion.feeds import LINEAGE_COLUMNS, RAW_SCHEMA, Feed, delivery_number, extract_name, raw_tables
from ingestion.pii import mask, protector
from ingestion.readers import FileReport, UnreadableFile, identify_feed, read
from ingestion.validation import validate

if TYPE_CHECKING:
    from ingestion.arrow_csv import EncodedFile  # arrow_csv imports this module

log = logging.getLogger(__name__)

# The advisory lock key an ingest run holds for its whole length.
INGEST_LOCK = "ingestion.ingest"

MANIFEST_DDL = f"""
create schema if not exists {RAW_SCHEMA};
create table if not exists {RAW_SCHEMA}.load_manifest (
    batch_id bigserial primary key,
    run_id text,
    source text not null,
    feed text,
    format text,
    business_date date not null,
    path text not null,
    extract text not null,
    delivery integer not null,
    size_bytes bigint not null,
    sha256 text not null,
    encoding text,
    status text not null
        check (status in ('loading', 'loaded', 'duplicate', 'failed', 'superseded')),
    rows_read integer,
    rows_loaded integer,
    rows_quarantined integer,
    schema_drift jsonb,
    error text,
    started_at timestamptz not null default now(),
    finished_at timestamptz
);
create index if not exists load_manifest_sha256 on {RAW_SCHEMA}.load_manifest (sha256);
create index if not exists load_manifest_extract on {RAW_SCHEMA}.load_manifest (extract);
create table if not exists {RAW_SCHEMA}.quarantine (
    batch_id bigint not null references {RAW_SCHEMA}.load_manifest (batch_id),
    feed text not null,
    source_file text not null,
    source_line integer not null,
    field text not null,
    reason text not null,
    -- the line as delivered; encrypted instead when the feed carries personal data
    original_text text,
    original_text_encrypted bytea,
    quarantined_at timestamptz not null default now()
);
create index if not exists quarantine_batch on {RAW_SCHEMA}.quarantine (batch_id);
"""


class IngestionFailed(Exception):
    """One or more files could not be loaded; the message names each file and its problem."""


@dataclass
class FileResult:
    path: str
    source: str
    feed: str | None
    business_date: date
    status: str  # loaded, duplicate, superseded, skipped (handled by an earlier run), failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    schema_drift: dict | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class IngestionSummary:
    business_date: date
    files: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def failure(self) -> IngestionFailed | None:
        """The error that fails the run when any file could not be loaded."""
        if not self.failed:
            return None
        lines = "\n".join(f"- {f.error}" for f in self.failed)
        return IngestionFailed(f"{len(self.failed)} landing file(s) could not be loaded:\n{lines}")

    def as_dict(self) -> dict:
        """What this run did; files handled by earlier runs are only counted."""
        return {
            "business_date": self.business_date.isoformat(),
            "files": [
                {**asdict(f), "business_date": f.business_date.isoformat()}
                for f in self.files if f.status != "skipped"
            ],
            "files_already_handled": sum(1 for f in self.files if f.status == "skipped"),
        }


@dataclass(frozen=True)
class LandingFile:
    source: str
    business_date: date
    path: Path

    @property
    def extract(self) -> str:
        """Identity of the extract this file delivers: deliveries of one extract supersede each other."""
        return f"{self.source}/{self.business_date}/{extract_name(self.path.name)}"

    @property
    def delivery(self) -> int:
        return delivery_number(self.path.name)


def ensure_raw_schema(conn: psycopg.Connection) -> None:
    """Create the manifest, the quarantine and one table per raw table; add columns a feed gained."""
    conn.execute(MANIFEST_DDL)
    for table_name, feeds in raw_tables().items():
        table = sql.Identifier(RAW_SCHEMA, table_name)
        columns = [stored for column in feeds[0].columns for stored in column.stored_columns]
        columns += list(LINEAGE_COLUMNS.items())
        conn.execute(sql.SQL("create table if not exists {} ({})").format(
            table,
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns),
        ))
        for name, pg_type in columns:
            conn.execute(sql.SQL("alter table {} add column if not exists {} {}").format(
                table, sql.Identifier(name), sql.SQL(pg_type.replace(" not null", ""))))
        # Batches are looked up whole (a superseded delivery's rows, a run's rows for its checks) and
        # arrive in ascending batch order: a BRIN index finds them nearly as well as a B-tree, at a
        # fraction of its cost per COPYed row (no B-tree insert per row: about 14 % of a COPY's time
        # into raw.erp_invoices). Warehouses from before it change over here.
        conn.execute(sql.SQL("drop index if exists {}").format(sql.Identifier(RAW_SCHEMA, f"{table_name}_batch")))
        conn.execute(sql.SQL("create index if not exists {} on {} using brin (_batch_id)").format(
            sql.Identifier(f"{table_name}_batch_brin"), table))


def discover(landing_dir: Path, up_to: date) -> list[LandingFile]:
    """Landing files for business dates up to ``up_to``, in load order: by business date, source,
    extract and delivery, so that a re-delivery comes after what it corrects."""
    found: list[LandingFile] = []
    if not landing_dir.exists():
        return found
    for source_dir in sorted(p for p in landing_dir.iterdir() if p.is_dir()):
        for date_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            try:
                business_date = date.fromisoformat(date_dir.name)
            except ValueError:
                log.warning("ignoring %s: its name is not a business date (YYYY-MM-DD)", date_dir)
                continue
            if business_date > up_to:
                continue
            for path in date_dir.iterdir():
                if path.is_file() and not path.name.startswith("."):
                    found.append(LandingFile(source_dir.name, business_date, path))
    return sorted(found, key=lambda f: (f.business_date, f.source, extract_name(f.path.name), f.delivery))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(
    business_date: date,
    *,
    landing_dir: Path | None = None,
    database_url: str | None = None,
    run_id: str | None = None,
    sources: Iterable[str] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestionSummary:
    """Load every pending landing file with a business date up to ``business_date``.

    Up to ``workers`` files (default: the ``ingest_workers`` setting) load at once, each on a
    connection of its own and still in a transaction of its own, so that the client's parsing of
    one file overlaps the server's COPY of another. Files whose outcome depends on one another
    (``_serial_groups``) load one after another in discover order, so the manifest and the raw
    tables end as a run loading every file in turn leaves them. An internal error in one file
    fails the run once the files under way have finished; no further file is started.
    ``progress(files done, files found)`` is called as each file is done (from the thread that
    loaded it)."""
    landing_dir = landing_dir or get_settings().resolved_landing_dir
    workers = workers or get_settings().ingest_workers
    summary = IngestionSummary(business_date)
    wanted = set(sources) if sources else None
    files = [f for f in discover(landing_dir, business_date) if not wanted or f.source in wanted]
    latest_delivery: dict[str, int] = {}
    for landing_file in files:
        latest_delivery[landing_file.extract] = max(latest_delivery.get(landing_file.extract, 0), landing_file.delivery)
    jobs = [_FileJob(landing_file, latest_delivery[landing_file.extract] > landing_file.delivery)
            for landing_file in files]
    # Resolved once: without a configured URL this starts the embedded server, not a job for each worker.
    database_url = database_url or warehouse.database_url()
    with warehouse.connect(database_url) as conn:
        _wait_for_other_runs(conn)
        ensure_raw_schema(conn)
        _close_interrupted_loads(conn)
        conn.commit()
        _compute_digests(jobs, workers)
        groups = _serial_groups(conn, jobs)
        _reserve_batch_ids(conn, jobs)
        finished = _FilesDone(len(jobs), progress)
        # Made once here: loading and encoding threads making it at once could race to create the
        # local key file.
        protector()
        if workers == 1 or len(groups) <= 1:
            _load_in_turn(conn, run_id, iter(jobs), finished, threading.Event())
        else:
            _load_side_by_side(database_url, run_id, groups, workers, finished)
    summary.files = [job.result for job in jobs]
    return summary


@dataclass
class _FileJob:
    landing_file: LandingFile
    superseded: bool
    sha256: str | None = None
    batch_id: int | None = None
    result: FileResult | None = None


def _reserve_batch_ids(conn: psycopg.Connection, jobs: list[_FileJob]) -> None:
    """Give the files their batch ids now, ascending in discover order, whatever order the workers
    then load them in: staging keeps a key's row from its latest delivery by batch id, and the
    knowledge clock keys on a key's first batch, so batch ids must follow business dates and
    deliveries as a run loading every file in turn assigns them. (A file found already handled
    leaves its id unused: a gap, not a problem.)"""
    if not jobs:
        return
    reserved = [batch_id for (batch_id,) in conn.execute(
        f"select nextval(pg_get_serial_sequence('{RAW_SCHEMA}.load_manifest', 'batch_id')) "
        "from generate_series(1, %s) order by 1", (len(jobs),))]
    conn.commit()
    for job, batch_id in zip(jobs, reserved, strict=True):
        job.batch_id = batch_id


def _compute_digests(jobs: list[_FileJob], workers: int) -> None:
    """Every file's sha256, before any file loads (grouping needs them), on ``workers`` threads:
    hashlib lets go of the GIL."""
    paths = [job.landing_file.path for job in jobs]
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="ingest-digest") as pool:
            digests = list(pool.map(file_digest, paths))
    else:
        digests = [file_digest(path) for path in paths]
    for job, digest in zip(jobs, digests, strict=True):
        job.sha256 = digest


def _serial_groups(conn: psycopg.Connection, jobs: list[_FileJob]) -> list[list[_FileJob]]:
    """The files, in groups that must load one after another (each in discover order); the groups
    are independent of one another, in the order of their first file.

    A file's outcome reads the manifest entries of its extract (a re-delivery supersedes them) and
    those with its digest (a copy of a loaded file is a duplicate); only files of the same extract
    write to those. So a file goes with the files of its extract, the files with its digest and the
    files of every extract the manifest already holds its digest under (a copy of a file an earlier
    run loaded, whose extract is re-delivered now)."""
    recorded_under: dict[str, set[str]] = {}
    for sha256, extract in conn.execute(
        f"select distinct sha256, extract from {RAW_SCHEMA}.load_manifest where sha256 = any(%s)",
        (sorted({job.sha256 for job in jobs}),),
    ):
        recorded_under.setdefault(sha256, set()).add(extract)
    conn.commit()

    parent = list(range(len(jobs)))  # union-find over the files' positions

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[tuple[str, str], int] = {}
    for index, job in enumerate(jobs):
        keys = [("extract", job.landing_file.extract), ("sha256", job.sha256)]
        keys += [("extract", extract) for extract in recorded_under.get(job.sha256, ())]
        for key in keys:
            a, b = root(index), root(first_with.setdefault(key, index))
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[_FileJob]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(root(index), []).append(job)
    return [groups[key] for key in sorted(groups)]


class _FilesDone:
    """Counts the files done across the loading threads and reports each to ``progress``."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self._progress, self._lock = total, 0, progress, threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.done += 1
            if self._progress is not None:
                self._progress(self.done, self.total)


def _load_side_by_side(
    database_url: str, run_id, groups: list[list[_FileJob]], workers: int, finished: _FilesDone
) -> None:
    """Load the groups on ``workers`` threads, each with a connection of its own taking the next
    group when done. pyarrow's parsing and libpq's sending let go of the GIL, so one thread's
    client work runs beside another's wait on the server. After an error no thread starts another
    file; the first error is raised once the files under way are done."""
    pending: queue.SimpleQueue[list[_FileJob]] = queue.SimpleQueue()
    for group in groups:
        pending.put(group)
    stop = threading.Event()
    errors: list[BaseException] = []

    def taken_jobs() -> Iterator[_FileJob]:
        while not stop.is_set():
            try:
                group = pending.get_nowait()
            except queue.Empty:
                return
            yield from group

    def work() -> None:
        try:
            with warehouse.connect(database_url) as conn:
                _load_in_turn(conn, run_id, taken_jobs(), finished, stop)
        except BaseException as error:
            errors.append(error)
            stop.set()

    # Each thread runs in a copy of this one's context variables: its log lines name the run,
    # business date and stage as this thread's do (credit_dw.logs.run_context).
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"ingest-{number}")
               for number in range(min(workers, len(groups)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # the run itself is stopped (Ctrl-C, the task's timeout): end the files under way only
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]


def _load_in_turn(
    conn: psycopg.Connection, run_id, jobs: Iterator[_FileJob], finished: _FilesDone, stop: threading.Event
) -> None:
    """Load the jobs one after another on this connection, each small CSV file encoded ahead on a
    thread of its own while the connection is busy with the file before: the server only starts a
    one-block file's COPY once the client is done with it, and then takes about as long again (a
    daily invoice file: some 9 ms of server work after 11 ms of client work)."""
    with ThreadPoolExecutor(1, thread_name_prefix="ingest-encode") as encoder:
        # Each thread runs in a copy of this one's context variables (its log lines name the run).
        def submit(job: _FileJob | None) -> Future | None:
            if job is None or job.superseded:
                return None
            return encoder.submit(contextvars.copy_context().run, _encoded_ahead, job.landing_file, job.batch_id)

        job = next(jobs, None)
        encoded = submit(job)
        while job is not None and not stop.is_set():
            following = next(jobs, None)
            encoded_following = submit(following)
            _load_job(conn, run_id, job, finished, encoded)
            job, encoded = following, encoded_following


def _encoded_ahead(landing_file: LandingFile, batch_id: int) -> EncodedFile | None:
    """A file small enough to hold whole that the fast path takes, encoded; None for any other
    file, which then loads as it streams (or row by row)."""
    from ingestion import arrow_csv

    path = landing_file.path
    if path.stat().st_size > arrow_csv.ENCODE_AHEAD_BYTES:
        return None
    feed = identify_feed(path, landing_file.source)  # as _ingest_file finds it: the same file and source
    if feed is None or not arrow_csv.takes(feed, path):
        return None
    return arrow_csv.encode_ahead(feed, path, batch_id)


def _load_job(
    conn: psycopg.Connection, run_id, job: _FileJob, finished: _FilesDone, encoded: Future | None = None
) -> None:
    landing_file = job.landing_file
    started = time.perf_counter()
    result = _ingest_file(conn, run_id, landing_file, job.sha256, job.batch_id, job.superseded, encoded)
    result.seconds = round(time.perf_counter() - started, 3)
    job.result = result
    if result.status != "skipped":
        log.info(
            "%s %s: %s, read %d, loaded %d, quarantined %d%s",
            landing_file.business_date, landing_file.path.name, result.status, result.rows_read,
            result.rows_loaded, result.rows_quarantined, f" ({result.error})" if result.error else "",
        )
    finished()


def _wait_for_other_runs(conn: psycopg.Connection) -> None:
    """Take the ingest lock for this session, waiting while another run holds it."""
    if not conn.execute("select pg_try_advisory_lock(hashtext(%s))", (INGEST_LOCK,)).fetchone()[0]:
        log.info("another ingest run is loading into this warehouse: waiting for it to finish")
        conn.execute("select pg_advisory_lock(hashtext(%s))", (INGEST_LOCK,))
    conn.commit()


def _close_interrupted_loads(conn: psycopg.Connection) -> None:
    """Mark failed the entries an earlier run left 'loading' (killed, or its connection lost, mid-file):
    their rows were rolled back with the file's transaction, and under the ingest lock no other run can
    still be loading them. The file itself is loaded again as a new batch."""
    interrupted = conn.execute(
        f"""update {RAW_SCHEMA}.load_manifest
            set status = 'failed', finished_at = now(),
                error = 'interrupted: the loading process ended before the file was committed; '
                        || 'nothing of it was kept and a later run loads it again'
            where status = 'loading' returning batch_id"""
    ).fetchall()
    if interrupted:
        log.warning("%d load(s) interrupted by an earlier run marked failed: batches %s",
                    len(interrupted), ", ".join(str(row[0]) for row in interrupted))


def _ingest_file(
    conn: psycopg.Connection, run_id, landing_file: LandingFile, sha256: str, batch_id: int, superseded: bool,
    encoded: Future | None = None,
) -> FileResult:
    path = landing_file.path
    result = FileResult(str(path), landing_file.source, None, landing_file.business_date, "skipped")
    handled = conn.execute(
        f"""select path = %s as same_path, batch_id, status from {RAW_SCHEMA}.load_manifest
            where sha256 = %s and status in ('loaded', 'duplicate', 'superseded')
            order by 1 desc, batch_id limit 1""",
        (str(path), sha256),
    ).fetchone()
    if handled and handled[0]:
        return result  # this very file was handled by an earlier run
    feed = identify_feed(path, landing_file.source)
    result.feed = feed.name if feed else None
    _register(conn, run_id, landing_file, feed, sha256, batch_id)
    if handled and handled[2] == "loaded":
        return _close(conn, result, batch_id, "duplicate", f"identical to batch {handled[1]}")
    if superseded:
        return _close(conn, result, batch_id, "superseded", "a later delivery of this extract replaces it")
    if feed is None:
        return _close(conn, result, batch_id, "failed",
                      f"{path}: neither its name nor its content matches a '{landing_file.source}' feed")
    try:
        ahead = encoded.result() if encoded is not None else None  # raises what encoding raised
        read_count, loaded, quarantined, reasons, report = load_file(conn, feed, path, batch_id, ahead)
        _supersede_earlier_deliveries(conn, feed, landing_file, batch_id)
        conn.execute(
            f"""update {RAW_SCHEMA}.load_manifest set status = 'loaded', rows_read = %s, rows_loaded = %s,
                rows_quarantined = %s, schema_drift = %s, encoding = %s, finished_at = now()
                where batch_id = %s""",
            (read_count, loaded, quarantined, Jsonb(report.drift) if report.drift else None, report.encoding,
             batch_id),
        )
        conn.commit()
    except UnreadableFile as error:
        conn.rollback()
        return _close(conn, result, batch_id, "failed", str(error))
    except Exception:
        conn.rollback()
        _close(conn, result, batch_id, "failed", "internal error while loading; see the task log")
        raise
    result.status = "loaded"
    result.rows_read, result.rows_loaded, result.rows_quarantined = read_count, loaded, quarantined
    result.reasons, result.schema_drift = reasons, report.drift
    return result


def _register(conn, run_id, landing_file: LandingFile, feed: Feed | None, sha256: str, batch_id: int) -> None:
    conn.execute(
        f"""insert into {RAW_SCHEMA}.load_manifest
            (batch_id, run_id, source, feed, format, business_date, path, extract, delivery, size_bytes, sha256,
             status)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'loading')""",
        (batch_id, run_id, landing_file.source, feed.name if feed else None, feed.format if feed else None,
         landing_file.business_date, str(landing_file.path), landing_file.extract, landing_file.delivery,
         landing_file.path.stat().st_size, sha256),
    )
    conn.commit()


def _close(conn, result: FileResult, batch_id: int, status: str, note: str) -> FileResult:
    conn.execute(
        f"""update {RAW_SCHEMA}.load_manifest set status = %s, error = %s, rows_read = 0, rows_loaded = 0,
            rows_quarantined = 0, finished_at = now() where batch_id = %s""",
        (status, note, batch_id),
    )
    conn.commit()
    result.status = status
    result.error = note if status == "failed" else None
    return result


def stored_values(feed: Feed, values: list[object]) -> list[object]:
    """Typed values as the raw table stores them: personal data as ciphertext and blind index."""
    stored: list[object] = []
    pii = protector() if feed.has_pii else None
    for column, value in zip(feed.columns, values, strict=True):
        if column.pii:
            text = None if value is None else str(value)
            stored += [None, None, None] if text is None else [
                pii.encrypt(text), pii.blind_index(text), mask(text, column.type)
            ]
        else:
            stored.append(value)
    return stored


def load_file(
    conn: psycopg.Connection, feed: Feed, path: Path, batch_id: int, encoded: EncodedFile | None = None
):
    """Parse, validate and COPY one file inside the caller's open transaction.

    Returns (rows read, rows loaded, rows quarantined, {reason: count}, FileReport). CSV files the
    vectorised path can take exactly (``arrow_csv.can_load``) go there, ``encoded`` ahead if given
    (``arrow_csv.EncodedFile``); the rest row by row."""
    from ingestion import arrow_csv  # looked up on the module, so a test can keep a file on this path

    if encoded is not None or arrow_csv.takes(feed, path):
        return arrow_csv.load_csv_arrow(conn, feed, path, batch_id, encoded)
    loaded_at = datetime.now(UTC)
    report = FileReport()
    rows_read = rows_loaded = 0
    stored_columns = [name for column in feed.columns for name, _ in column.stored_columns]
    target = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(RAW_SCHEMA, feed.table_name),
        sql.SQL(", ").join(map(sql.Identifier, stored_columns + list(LINEAGE_COLUMNS))),
    )
    rejected: list[tuple] = []
    reasons: dict[str, int] = {}
    pii = protector() if feed.has_pii else None
    with conn.cursor() as cursor, cursor.copy(target) as copy:
        for line, original, fields in read(path, feed, report):
            rows_read += 1
            values, rejection = validate(feed, fields)
            if rejection is not None:
                reasons[rejection.kind] = reasons.get(rejection.kind, 0) + 1
                rejected.append((
                    batch_id, feed.name, str(path), line, rejection.field, rejection.reason,
                    None if pii else original, pii.encrypt(original) if pii else None,
                ))
                continue
            copy.write_row([*stored_values(feed, values), batch_id, str(path), line, loaded_at])
            rows_loaded += 1
    if rejected:
        with conn.cursor() as cursor, cursor.copy(
            f"""copy {RAW_SCHEMA}.quarantine (batch_id, feed, source_file, source_line, field, reason,
                original_text, original_text_encrypted) from stdin"""
        ) as copy:
            for row in rejected:
                copy.write_row(row)
    if rows_read != rows_loaded + len(rejected):
        raise AssertionError(f"{path}: read {rows_read} != loaded {rows_loaded} + quarantined {len(rejected)}")
    return rows_read, rows_loaded, len(rejected), reasons, report


def _supersede_earlier_deliveries(conn: psycopg.Connection, feed: Feed, landing_file: LandingFile, batch_id: int):
    """A re-delivered extract replaces the rows of earlier deliveries of the same extract."""
    previous = [row[0] for row in conn.execute(
        f"""select batch_id from {RAW_SCHEMA}.load_manifest
            where extract = %s and status = 'loaded' and batch_id <> %s""",
        (landing_file.extract, batch_id),
    )]
    if not previous:
        return
    conn.execute(sql.SQL("delete from {} where _batch_id = any(%s)").format(
        sql.Identifier(RAW_SCHEMA, feed.table_name)), (previous,))
    conn.execute(f"delete from {RAW_SCHEMA}.quarantine where batch_id = any(%s)", (previous,))
    conn.execute(
        f"""update {RAW_SCHEMA}.load_manifest set status = 'superseded',
            error = 'replaced by batch ' || %s::text where batch_id = any(%s)""",
        (batch_id, previous),
    )
