"""Load landing files into the ``raw`` schema: discover, register in the load manifest, validate,
COPY good rows, quarantine bad ones, all of one file in one transaction.

Guarantees:
- an identical file (same sha256) is never loaded twice;
- a corrected re-delivery (same path, new content) replaces its predecessor's rows;
- a file that cannot be parsed leaves nothing behind but a ``failed`` manifest entry with the reason,
  and the other files still load;
- for every loaded file, rows read = rows loaded + rows quarantined (asserted and recorded).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from credit_dw import warehouse
from credit_dw.settings import get_settings
from ingestion.feeds import FEEDS, LINEAGE_COLUMNS, RAW_SCHEMA, Feed, feed_for
from ingestion.readers import HeaderReport, UnreadableFile, read
from ingestion.validation import validate

log = logging.getLogger(__name__)

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
    size_bytes bigint not null,
    sha256 text not null,
    status text not null check (status in ('loading', 'loaded', 'duplicate', 'failed', 'superseded')),
    rows_read integer,
    rows_loaded integer,
    rows_quarantined integer,
    schema_drift jsonb,
    error text,
    started_at timestamptz not null default now(),
    finished_at timestamptz
);
create index if not exists load_manifest_sha256 on {RAW_SCHEMA}.load_manifest (sha256);
create index if not exists load_manifest_path on {RAW_SCHEMA}.load_manifest (path);
create table if not exists {RAW_SCHEMA}.quarantine (
    batch_id bigint not null references {RAW_SCHEMA}.load_manifest (batch_id),
    feed text not null,
    source_file text not null,
    source_line integer not null,
    field text not null,
    reason text not null,
    original_text text not null,
    quarantined_at timestamptz not null default now()
);
"""


class IngestionFailed(Exception):
    """One or more files could not be loaded; the message names each file and its problem."""


@dataclass
class FileResult:
    path: str
    source: str
    feed: str | None
    business_date: date
    status: str  # loaded, duplicate (same bytes as an earlier file), skipped (handled before), failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
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
        return {
            "business_date": self.business_date.isoformat(),
            "files": [{**asdict(f), "business_date": f.business_date.isoformat()} for f in self.files],
        }


def ensure_raw_schema(conn: psycopg.Connection, feeds: Iterable[Feed] = FEEDS) -> None:
    """Create the manifest, quarantine and one table per feed; add columns a feed gained."""
    conn.execute(MANIFEST_DDL)
    for feed in feeds:
        table = sql.Identifier(RAW_SCHEMA, feed.name)
        columns = [(c.name, c.pg_type) for c in feed.columns] + list(LINEAGE_COLUMNS.items())
        conn.execute(sql.SQL("create table if not exists {} ({})").format(
            table,
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns),
        ))
        for name, pg_type in columns:
            conn.execute(sql.SQL("alter table {} add column if not exists {} {}").format(
                table, sql.Identifier(name), sql.SQL(pg_type.replace(" not null", ""))))
        conn.execute(sql.SQL("create index if not exists {} on {} (_batch_id)").format(
            sql.Identifier(f"{feed.name}_batch"), table))


def discover(landing_dir: Path, up_to: date) -> list[tuple[str, date, Path]]:
    """Landing files for business dates up to ``up_to``, oldest first: (source, date, path)."""
    found = []
    if not landing_dir.exists():
        return found
    for source_dir in sorted(p for p in landing_dir.iterdir() if p.is_dir()):
        for date_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            try:
                business_date = date.fromisoformat(date_dir.name)
            except ValueError:
                log.warning("ignoring %s: folder name is not a business date (YYYY-MM-DD)", date_dir)
                continue
            if business_date > up_to:
                continue
            for path in sorted(p for p in date_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
                found.append((source_dir.name, business_date, path))
    return sorted(found, key=lambda item: (item[1], item[0], item[2].name))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _register(conn, run_id, source, feed, business_date, path, size, sha256) -> int:
    row = conn.execute(
        f"""insert into {RAW_SCHEMA}.load_manifest
            (run_id, source, feed, format, business_date, path, size_bytes, sha256, status)
            values (%s, %s, %s, %s, %s, %s, %s, %s, 'loading') returning batch_id""",
        (run_id, source, feed.name if feed else None, feed.format if feed else None,
         business_date, str(path), size, sha256),
    ).fetchone()
    conn.commit()
    return row[0]


def _fail(conn, batch_id: int, error: str) -> None:
    conn.execute(
        f"""update {RAW_SCHEMA}.load_manifest set status = 'failed', error = %s,
            finished_at = now() where batch_id = %s""",
        (error, batch_id),
    )
    conn.commit()


def _load_file(conn: psycopg.Connection, feed: Feed, path: Path, batch_id: int) -> tuple[int, int, int, HeaderReport]:
    """Parse, validate and COPY one file inside the caller's open transaction."""
    loaded_at = datetime.now(UTC)
    report = HeaderReport(missing=[], extra=[])
    rows_read = rows_loaded = rows_quarantined = 0
    business_columns = [c.name for c in feed.columns]
    target = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(RAW_SCHEMA, feed.name),
        sql.SQL(", ").join(map(sql.Identifier, business_columns + list(LINEAGE_COLUMNS))),
    )
    rejected = []
    with conn.cursor() as cursor, cursor.copy(target) as copy:
        for line, original, fields in read(path, feed, report):
            rows_read += 1
            values, rejection = validate(feed, fields)
            if rejection is not None:
                rejected.append((batch_id, feed.name, str(path), line, rejection.field, rejection.reason, original))
                rows_quarantined += 1
                continue
            copy.write_row([*values, batch_id, str(path), line, loaded_at])
            rows_loaded += 1
    if rejected:
        with conn.cursor() as cursor, cursor.copy(
            f"""copy {RAW_SCHEMA}.quarantine
                (batch_id, feed, source_file, source_line, field, reason, original_text) from stdin"""
        ) as copy:
            for row in rejected:
                copy.write_row(row)
    if rows_read != rows_loaded + rows_quarantined:
        raise AssertionError(f"{path}: rows read {rows_read} != loaded {rows_loaded} + quarantined {rows_quarantined}")
    return rows_read, rows_loaded, rows_quarantined, report


def _supersede_predecessors(conn: psycopg.Connection, feed: Feed, path: Path, batch_id: int) -> None:
    """A re-delivered extract replaces the rows of earlier deliveries of the same file."""
    previous = [row[0] for row in conn.execute(
        f"""select batch_id from {RAW_SCHEMA}.load_manifest
            where path = %s and status = 'loaded' and batch_id <> %s""",
        (str(path), batch_id),
    )]
    if not previous:
        return
    conn.execute(sql.SQL("delete from {} where _batch_id = any(%s)").format(
        sql.Identifier(RAW_SCHEMA, feed.name)), (previous,))
    conn.execute(f"delete from {RAW_SCHEMA}.quarantine where batch_id = any(%s)", (previous,))
    conn.execute(
        f"update {RAW_SCHEMA}.load_manifest set status = 'superseded' where batch_id = any(%s)", (previous,)
    )


def ingest(
    business_date: date,
    *,
    landing_dir: Path | None = None,
    database_url: str | None = None,
    run_id: str | None = None,
    sources: Iterable[str] | None = None,
) -> IngestionSummary:
    """Load every pending landing file with a business date up to ``business_date``."""
    landing_dir = landing_dir or get_settings().resolved_landing_dir
    summary = IngestionSummary(business_date)
    wanted = set(sources) if sources else None
    with warehouse.connect(database_url) as conn:
        ensure_raw_schema(conn)
        conn.commit()
        for source, file_date, path in discover(landing_dir, business_date):
            if wanted and source not in wanted:
                continue
            started = time.perf_counter()
            result = _ingest_file(conn, run_id, source, file_date, path)
            result.seconds = round(time.perf_counter() - started, 3)
            summary.files.append(result)
            if result.status != "skipped":
                log.info(
                    "%s %s: %s, read %d, loaded %d, quarantined %d%s",
                    file_date, path.name, result.status, result.rows_read, result.rows_loaded,
                    result.rows_quarantined, f" ({result.error})" if result.error else "",
                )
    return summary


def _ingest_file(conn: psycopg.Connection, run_id, source: str, business_date: date, path: Path) -> FileResult:
    result = FileResult(str(path), source, None, business_date, "skipped")
    sha256 = _sha256(path)
    seen = conn.execute(
        f"""select path = %s as same_path, batch_id from {RAW_SCHEMA}.load_manifest
            where sha256 = %s and status in ('loaded', 'duplicate') order by 1 desc limit 1""",
        (str(path), sha256),
    ).fetchone()
    if seen and seen[0]:
        return result  # this very file was handled by an earlier run
    feed = feed_for(source, path.name)
    result.feed = feed.name if feed else None
    batch_id = _register(conn, run_id, source, feed, business_date, path, path.stat().st_size, sha256)
    if seen:
        # The same bytes arrived under another name: recorded, never loaded twice.
        conn.execute(
            f"""update {RAW_SCHEMA}.load_manifest set status = 'duplicate', rows_read = 0, rows_loaded = 0,
                rows_quarantined = 0, error = %s, finished_at = now() where batch_id = %s""",
            (f"identical to batch {seen[1]}", batch_id),
        )
        conn.commit()
        result.status = "duplicate"
        return result
    if feed is None:
        result.status, result.error = "failed", f"{path}: no feed is defined for '{source}' files named like this"
        _fail(conn, batch_id, result.error)
        return result
    try:
        rows_read, rows_loaded, rows_quarantined, report = _load_file(conn, feed, path, batch_id)
        _supersede_predecessors(conn, feed, path, batch_id)
        drift = {"missing": report.missing, "extra": report.extra} if report.missing or report.extra else None
        conn.execute(
            f"""update {RAW_SCHEMA}.load_manifest set status = 'loaded', rows_read = %s, rows_loaded = %s,
                rows_quarantined = %s, schema_drift = %s, finished_at = now() where batch_id = %s""",
            (rows_read, rows_loaded, rows_quarantined, psycopg.types.json.Jsonb(drift) if drift else None, batch_id),
        )
        conn.commit()
    except UnreadableFile as error:
        conn.rollback()
        result.status, result.error = "failed", str(error)
        _fail(conn, batch_id, result.error)
        return result
    except Exception:
        conn.rollback()
        _fail(conn, batch_id, "internal error while loading; see the task log")
        raise
    result.status = "loaded"
    result.rows_read, result.rows_loaded, result.rows_quarantined = rows_read, rows_loaded, rows_quarantined
    return result

