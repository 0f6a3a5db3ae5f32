"""What data stewards read after each run: Great Expectations Data Docs as static HTML, and a
quality summary per run (checks, failures, quarantined rows per source) stored in ``dq.run_summaries``.

Both are built from what the run recorded in the warehouse (``dq.validation_results`` with GX's own
result JSON, ``raw.load_manifest``), not from the GX context that validated: each validation runs in
an ephemeral context of its own (``expectations.validate``), and a failed run must still be
reported. Data Docs go to ``<home>/data_docs/<business date>/<run id>/index.html``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from credit_dw import warehouse
from credit_dw.settings import get_settings
from expectations.suites import SUITES
from expectations.validate import RESULTS_DDL, ephemeral_context

SUMMARIES_DDL = """
create schema if not exists dq;
create table if not exists dq.run_summaries (
    run_id text primary key,
    business_date date not null,
    suites integer not null,
    checks integer not null,
    failed_checks integer not null,
    blocking_failures integer not null,
    rows_quarantined integer not null,
    per_source jsonb not null,
    failures jsonb not null,
    data_docs text,
    summarised_at timestamptz not null default now()
);
"""
SITE_NAME = "stewards"


@dataclass
class SourceQuality:
    files: int = 0
    failed_files: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    suites: int = 0
    checks: int = 0
    failed_checks: int = 0


@dataclass
class QualitySummary:
    run_id: str
    business_date: date
    per_source: dict[str, SourceQuality] = field(default_factory=dict)
    # "suite on table: failure" lines, blocking ones first
    failures: list[str] = field(default_factory=list)
    blocking_failures: int = 0
    data_docs: str | None = None

    @property
    def suites(self) -> int:
        return sum(source.suites for source in self.per_source.values())

    @property
    def checks(self) -> int:
        return sum(source.checks for source in self.per_source.values())

    @property
    def failed_checks(self) -> int:
        return sum(source.failed_checks for source in self.per_source.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(source.rows_quarantined for source in self.per_source.values())

    def lines(self) -> list[str]:
        """The summary as text, one line per source, then the failures."""
        out = [f"data quality {self.business_date} (run {self.run_id}): {self.checks} checks in {self.suites} suites, "
               f"{self.failed_checks} failed ({self.blocking_failures} blocking suite(s)), "
               f"{self.rows_quarantined} rows quarantined"]
        for name, source in sorted(self.per_source.items()):
            out.append(f"  {name:<8} files {source.files} ({source.failed_files} failed), rows {source.rows_loaded} "
                       f"loaded, {source.rows_quarantined} quarantined; checks {source.checks}, "
                       f"{source.failed_checks} failed")
        out += [f"  ! {failure}" for failure in self.failures]
        if self.data_docs:
            out.append(f"  Data Docs: {self.data_docs}")
        return out


def summarise_run(run_id: str, business_date: date, *, database_url: str | None = None,
                  build_docs: bool = True) -> QualitySummary:
    """Summarise the run's quality results and quarantine per source, build its Data Docs, and
    store the summary (a rerun of the same run replaces it)."""
    url = database_url or warehouse.database_url()
    summary = QualitySummary(run_id, business_date)
    with warehouse.connect(url) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('dq.validation_results'))")
        conn.execute(RESULTS_DDL)
        validations = conn.execute(
            """select id, suite_name, table_name, blocking, success, evaluated, failed, failures, result
               from dq.validation_results where run_id = %s order by id""", (run_id,)).fetchall()
        loads = []
        if conn.execute("select to_regclass('raw.load_manifest') is not null").fetchone()[0]:
            loads = conn.execute(
                """select source, status, coalesce(rows_loaded, 0), coalesce(rows_quarantined, 0)
                   from raw.load_manifest where run_id = %s""", (run_id,)).fetchall()
    for source, status, loaded, quarantined in loads:
        quality = summary.per_source.setdefault(source, SourceQuality())
        quality.files += 1
        quality.failed_files += status == "failed"
        quality.rows_loaded += loaded
        quality.rows_quarantined += quarantined
    blocking_lines, warning_lines = [], []
    for _, suite_name, table, blocking, success, evaluated, failed, failures, _ in validations:
        quality = summary.per_source.setdefault(_source_of(suite_name, table), SourceQuality())
        quality.suites += 1
        quality.checks += evaluated
        quality.failed_checks += failed
        if not success:
            kind = "blocking" if blocking else "warning"
            lines = [f"{kind}: {suite_name} on {table}: {failure}" for failure in failures]
            (blocking_lines if blocking else warning_lines).extend(lines)
            summary.blocking_failures += blocking
    summary.failures = blocking_lines + warning_lines
    if build_docs and validations:
        summary.data_docs = str(build_data_docs(run_id, business_date, validations))
    _store(url, summary)
    return summary


def _source_of(suite_name: str, table: str) -> str:
    """The source a raw table comes from (its feed's source), or "marts" for the published ones."""
    from ingestion.feeds import FEEDS

    schema, _, name = table.partition(".")
    if schema != "raw":
        return "marts"
    return next((feed.source for feed in FEEDS if feed.table_name == name), suite_name)


def data_docs_dir(run_id: str, business_date: date) -> Path:
    # Airflow run ids carry ':' and '+' (manual__2026-10-01T02:00:00+08:00): not for every file system.
    return get_settings().home / "data_docs" / business_date.isoformat() / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def build_data_docs(run_id: str, business_date: date, validations: list[tuple]) -> Path:
    """A static Data Docs site of this run's validations and the suites they ran; returns its index."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    target = data_docs_dir(run_id, business_date)
    context = ephemeral_context(data_docs_sites={SITE_NAME: {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }})
    for suite_name in sorted({row[1] for row in validations}):
        suite = SUITES.get(suite_name)
        if suite is not None:
            context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=[
                getattr(gxe, class_name)(**arguments) for class_name, arguments in suite.expectations]))
    for validation_id, suite_name, table, *_, result in validations:
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=RunIdentifier(run_name=run_id),
            batch_identifier=f"{table}-{validation_id}",
        )
        context.validation_results_store.set(key, expectationSuiteValidationResultSchema.load(result))
    context.build_data_docs(site_names=[SITE_NAME])
    return target / "index.html"


def _store(database_url: str, summary: QualitySummary) -> None:
    per_source = {name: asdict(source) for name, source in sorted(summary.per_source.items())}
    with warehouse.connect(database_url) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('dq.run_summaries'))")
        conn.execute(SUMMARIES_DDL)
        conn.execute(
            """insert into dq.run_summaries (run_id, business_date, suites, checks, failed_checks, blocking_failures,
                                             rows_quarantined, per_source, failures, data_docs)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (run_id) do update set
                   business_date = excluded.business_date, suites = excluded.suites, checks = excluded.checks,
                   failed_checks = excluded.failed_checks, blocking_failures = excluded.blocking_failures,
                   rows_quarantined = excluded.rows_quarantined, per_source = excluded.per_source,
                   failures = excluded.failures, data_docs = excluded.data_docs, summarised_at = now()""",
            (summary.run_id, summary.business_date, summary.suites, summary.checks, summary.failed_checks,
             summary.blocking_failures, summary.rows_quarantined, Jsonb(per_source), Jsonb(summary.failures),
             summary.data_docs),
        )


def stored_summary(run_id: str, database_url: str | None = None) -> dict[str, Any] | None:
    """The stored summary of a run, as a dict (None when the run has none)."""
    with warehouse.connect(database_url) as conn:
        conn.execute(SUMMARIES_DDL)
        cursor = conn.execute("select * from dq.run_summaries where run_id = %s", (run_id,))
        row = cursor.fetchone()
        return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None
