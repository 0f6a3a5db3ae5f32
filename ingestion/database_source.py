"""Incremental extraction from a source system reachable as a SQL database (an ERP or CRM schema),
by an ``updated_at`` watermark, through SQLAlchemy.

Each run copies the rows changed since the last watermark into ``raw.<target>`` (with the usual
lineage columns), registers the extraction in the load manifest, and moves the watermark, all in
one warehouse transaction: a failed run leaves neither rows nor a moved watermark behind. The
upper bound is the source's own ``max(updated_at)`` read at the start, so rows committed during
the extraction are picked up next time instead of being half-seen now.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from psycopg import sql

from credit_dw import warehouse
from ingestion.feeds import LINEAGE_COLUMNS, RAW_SCHEMA
from ingestion.load import MANIFEST_DDL

log = logging.getLogger(__name__)

WATERMARKS_DDL = f"""
create table if not exists {RAW_SCHEMA}.extract_watermarks (
    source text not null,
    source_table text not null,
    watermark timestamptz not null,
    batch_id bigint not null,
    extracted_at timestamptz not null default now(),
    primary key (source, source_table)
);
"""

# Source column types map to these warehouse types; anything else is kept as text.
_TYPE_MAP = (
    (sa.Boolean, "boolean"),
    (sa.Integer, "bigint"),
    (sa.Numeric, "numeric"),
    (sa.Float, "double precision"),
    (sa.DateTime, "timestamptz"),
    (sa.Date, "date"),
)


@dataclass(frozen=True)
class TableExtract:
    source: str  # e.g. "erp_db"
    table: str  # source table, "schema.table"
    updated_at_column: str = "updated_at"

    @property
    def target_table(self) -> str:
        return f"{self.source}_{self.table.split('.')[-1]}"


@dataclass(frozen=True)
class ExtractResult:
    table: str
    rows: int
    watermark_from: datetime | None
    watermark_to: datetime | None
    batch_id: int | None


def _warehouse_type(column_type: sa.types.TypeEngine) -> str:
    for sa_type, pg_type in _TYPE_MAP:
        if isinstance(column_type, sa_type):
            return pg_type
    return "text"


def _safe_location(engine: sa.Engine, table: str) -> str:
    """Where the rows came from, for the manifest; never the password."""
    return f"{engine.url.render_as_string(hide_password=True)}#{table}"


def extract_incrementally(
    source_url: str, extract: TableExtract, *, database_url: str | None = None, run_id: str | None = None
) -> ExtractResult:
    source_engine = sa.create_engine(source_url)
    schema, _, name = extract.table.rpartition(".")
    try:
        source_table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=source_engine)
        updated_at = source_table.c[extract.updated_at_column]
        columns = list(source_table.columns)
        target = sql.Identifier(RAW_SCHEMA, extract.target_table)
        with warehouse.connect(database_url) as conn:
            conn.execute(MANIFEST_DDL + WATERMARKS_DDL)
            definitions = [(c.name, _warehouse_type(c.type)) for c in columns] + list(LINEAGE_COLUMNS.items())
            conn.execute(sql.SQL("create table if not exists {} ({})").format(target, sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in definitions)))
            row = conn.execute(
                f"select watermark from {RAW_SCHEMA}.extract_watermarks where source = %s and source_table = %s",
                (extract.source, extract.table),
            ).fetchone()
            low = row[0] if row else None
            with source_engine.connect() as source:
                high = source.execute(sa.select(sa.func.max(updated_at))).scalar()
                if high is None or (low is not None and high <= low):
                    return ExtractResult(extract.table, 0, low, low, None)
                query = sa.select(*columns).where(updated_at <= high).order_by(updated_at)
                if low is not None:
                    query = query.where(updated_at > low)
                batch_id = conn.execute(
                    f"""insert into {RAW_SCHEMA}.load_manifest (run_id, source, feed, format, business_date, path,
                        extract, delivery, size_bytes, sha256, status)
                        values (%s, %s, %s, 'database', %s, %s, %s, 1, 0, '', 'loading') returning batch_id""",
                    (run_id, extract.source, extract.target_table, date.today(),
                     _safe_location(source_engine, extract.table),
                     f"{extract.source}/{extract.table}/{low}..{high}"),
                ).fetchone()[0]
                digest = hashlib.sha256()
                loaded_at = datetime.now(UTC)
                rows = 0
                copy_sql = sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(
                    sql.Identifier(n) for n, _ in definitions))
                with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                    for rows, values in enumerate(source.execution_options(yield_per=5000).execute(query), 1):
                        digest.update(repr(tuple(values)).encode())
                        copy.write_row([*values, batch_id, _safe_location(source_engine, extract.table), rows,
                                        loaded_at])
            conn.execute(
                f"""update {RAW_SCHEMA}.load_manifest set status = 'loaded', rows_read = %s, rows_loaded = %s,
                    rows_quarantined = 0, size_bytes = %s, sha256 = %s, finished_at = now() where batch_id = %s""",
                (rows, rows, rows, digest.hexdigest(), batch_id),
            )
            conn.execute(
                f"""insert into {RAW_SCHEMA}.extract_watermarks (source, source_table, watermark, batch_id)
                    values (%s, %s, %s, %s) on conflict (source, source_table)
                    do update set watermark = excluded.watermark, batch_id = excluded.batch_id,
                    extracted_at = now()""",
                (extract.source, extract.table, high, batch_id),
            )
        log.info("%s: %d changed rows extracted (%s .. %s]", extract.table, rows, low, high)
        return ExtractResult(extract.table, rows, low, high, batch_id)
    finally:
        source_engine.dispose()
