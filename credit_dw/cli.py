"""``credit-dw``: the command line. Thin: every command calls a function that does the work."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credit_dw import warehouse
from credit_dw.commands import alerts as alerts_commands
from credit_dw.commands import api as api_commands
from credit_dw.commands import docs as docs_commands
from credit_dw.commands import model as model_commands
from credit_dw.commands import onboard as onboard_commands
from credit_dw.commands import report as report_commands
from credit_dw.commands import rules as rules_commands
from credit_dw.settings import get_settings

app = typer.Typer(help="Credit-management data warehouse.", no_args_is_help=True, pretty_exceptions_enable=False)
warehouse_app = typer.Typer(help="The warehouse server (embedded PostgreSQL unless CREDIT_DW_DATABASE_URL is set).")
sandbox_app = typer.Typer(help="The sandbox company: simulated ERP, CRM, bank and bureau feeds.")
access_app = typer.Typer(help="Database roles and the audited access to personal data.")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(access_app, name="access")
app.add_typer(rules_commands.app, name="rules")
app.add_typer(alerts_commands.app, name="alerts")
app.add_typer(onboard_commands.app, name="onboard")
app.add_typer(report_commands.app, name="report")
app.add_typer(model_commands.app, name="model")
app.add_typer(api_commands.app, name="api")
app.add_typer(docs_commands.app, name="docs")

console = Console()
# Progress goes to standard error: it stays on the terminal when the results on standard output
# are redirected to a file (as `make demo` keeps the initial history load's table).
progress_console = Console(stderr=True)

BusinessDate = Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")]


@warehouse_app.command("start")
def warehouse_start() -> None:
    """Start the embedded warehouse (or check the configured one) and print its URL."""
    url = warehouse.start()
    console.print(f"warehouse ready: {url}")


@warehouse_app.command("stop")
def warehouse_stop() -> None:
    """Stop the embedded warehouse."""
    if warehouse.stop():
        console.print("embedded warehouse stopped")
    else:
        console.print("nothing to stop (no embedded warehouse running)")


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Say which warehouse is used and whether it is up."""
    state = warehouse.status()
    console.print(f"{state.kind} warehouse: {'running' if state.running else 'not running'} ({state.detail})")
    if not state.running and state.kind == "external":
        raise typer.Exit(1)


@warehouse_app.command("url")
def warehouse_url() -> None:
    """Print the warehouse database URL (starting the embedded server if needed)."""
    print(warehouse.database_url())


@warehouse_app.command(
    "psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def warehouse_psql(context: typer.Context) -> None:
    """Open psql on the warehouse; extra arguments go to psql (e.g. -c "select …")."""
    executable = warehouse.psql_executable()
    if executable is None:
        console.print("[red]no psql client found[/red]")
        raise typer.Exit(2)
    url = warehouse.database_url()
    os.execv(executable, [executable, url, *context.args])


@warehouse_app.command("env")
def warehouse_env() -> None:
    """Print shell exports for Airflow and dbt to use this warehouse: eval "$(credit-dw warehouse env)"."""
    from credit_dw.dbt import profile_env
    from credit_dw.orchestrator import airflow_environment

    variables = {**airflow_environment(), **profile_env(warehouse.database_url())}
    for name, value in variables.items():
        print(f"export {name}={_shell_quote(value)}")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


@access_app.command("apply")
def access_apply() -> None:
    """Create the roles (loader, transformer, analyst, bi_reader, steward, admin) and apply grants."""
    from credit_dw import access

    granted = access.apply()
    console.print("roles applied: " + ", ".join(f"{role} ({count} tables)" for role, count in sorted(granted.items())))


@access_app.command("reveal")
def access_reveal(
    table: Annotated[str, typer.Argument(help="e.g. raw.crm_contacts")],
    key_column: Annotated[str, typer.Argument(help="e.g. contact_id")],
    key_value: Annotated[str, typer.Argument(help="e.g. K000123")],
    column: Annotated[str, typer.Argument(help="personal-data column, e.g. contact_name")],
) -> None:
    """Decrypt one personal-data value (admin role only; recorded in audit.events)."""
    from credit_dw import audit

    try:
        print(audit.reveal(table, key_column, key_value, column))
    except (audit.NotAllowed, KeyError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


PgBin = Annotated[Path | None, typer.Option("--pg-bin", help="Directory of pg_dump/pg_restore of the server's "
                                             "major version, when they are not found by themselves.")]


@app.command("backup")
def backup_command(
    to: Annotated[Path, typer.Option("--to", help="Backup file to write (pg_dump custom format).")],
    pg_bin: PgBin = None,
) -> None:
    """Back up the warehouse database with pg_dump (custom format) of the server's major version."""
    from credit_dw import backup

    with _table_progress("dumping") as progress:
        result = backup.backup(to, pg_bin=pg_bin, progress=progress)
    console.print(f"backup of {result.database} written to {result.file}: {result.size_bytes / 1e6:.1f} MB, "
                  f"{result.tables} tables in {result.seconds:.1f} s (server PostgreSQL {result.server_version}, "
                  f"pg_dump {result.tool.version} from {result.tool.path.parent})")


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A file written by credit-dw backup (or pg_dump -Fc).")],
    database: Annotated[str, typer.Option("--database", help="New database on the warehouse's server.")],
    pg_bin: PgBin = None,
) -> None:
    """Restore a backup into a new database, all or nothing, then re-apply the roles' grants."""
    from credit_dw import backup

    with _table_progress("restoring") as progress:
        result = backup.restore(file, database, pg_bin=pg_bin, progress=progress)
    console.print(f"restored {result.file} into database {result.database}: {result.tables} tables in "
                  f"{result.seconds:.1f} s (dumped from PostgreSQL {result.dumped_from}, pg_restore "
                  f"{result.tool.version}); grants re-applied. Use it: CREDIT_DW_DATABASE_URL={result.database_url}")


@contextlib.contextmanager
def _table_progress(verb: str):
    """A bar of tables done for backup and restore; their errors end the command with the reason."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from credit_dw.backup import BackupError

    with Progress(TextColumn(f"{verb} {{task.description}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=None)
        try:
            yield lambda table, done, total: bar.update(task, description=table, completed=done, total=total)
        except BackupError as error:
            bar.stop()
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from None


@sandbox_app.command("generate")
def sandbox_generate(
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First business date.")],
    end: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last business date.")],
    scale: Annotated[str, typer.Option(help="tiny, small, medium or large.")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: .credit_dw/sandbox).")] = None,
    defects: Annotated[bool, typer.Option(
        "--defects/--no-defects", help="Spoil feeds at the catalogue's default rates (docs/sandbox.md).")] = True,
) -> None:
    """Write the sandbox's landing files and ground truth (replacing DIR/landing and DIR/ground_truth)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sandbox.defects import CATALOGUE
    from sandbox.generator import generate

    target = out or get_settings().sandbox_dir
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"simulating {scale} sandbox {start:%Y-%m-%d}..{end:%Y-%m-%d}", total=None)
        try:
            stats = generate(
                target, start=start.date(), end=end.date(), seed=seed, scale=scale,
                defect_rates=None if defects else dict.fromkeys(CATALOGUE, 0.0),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ValueError as error:
            console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(2) from None
        except OSError as error:
            full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            where = error.filename or target
            console.print(f"[red]error:[/red] {'disk full' if full else 'cannot write'} under {target}: "
                          f"{error.strerror} ({where}); files written so far are whole, the rest is missing")
            raise typer.Exit(1) from None
    console.print(
        f"sandbox written to {target}: {stats['customers']} customers, {stats['invoices']} invoices, "
        f"{stats['payments']} payments in {stats['files']} files over {stats['days']} days"
    )


@app.command("inspect")
def inspect_command(
    file: Annotated[Path, typer.Argument(help="A landing file.", exists=True, dir_okay=False)],
    source: Annotated[str | None, typer.Option(help="erp, crm, bank or bureau (default: from its folder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Parse and validate a file without loading it."""
    from ingestion.inspect import UnknownFeed, UnreadableFile, feed_of, inspect_file

    try:
        report = inspect_file(file, source)
    except (UnreadableFile, UnknownFeed) as error:
        try:
            file_format = feed_of(file, source).format
        except UnknownFeed:
            file_format = None
        message = error.problem if isinstance(error, UnreadableFile) else str(error)
        if as_json:
            print(json.dumps({"error": message, "format": file_format, "file": str(file)}, ensure_ascii=False))
        else:
            console.print(f"[red]cannot read {file}:[/red] {error}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    console.print(
        f"{file.name}: {report['feed']} ({report['format']}, {report['encoding']}): {report['rows']} rows, "
        f"{report['valid']} valid, {report['quarantined']} to quarantine"
    )
    for reason, count in sorted(report["reasons"].items(), key=lambda item: -item[1]):
        console.print(f"  {count:>6}  {reason}")
    if report["schema_drift"]:
        console.print(f"  schema drift: {report['schema_drift']}")
    if report["sample"]:
        table = Table(title="first valid rows")
        for column in report["sample"][0]:
            table.add_column(column)
        for row in report["sample"]:
            table.add_row(*("" if value is None else str(value) for value in row.values()))
        console.print(table)


@app.command("ingest")
def ingest_command(
    business_date: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Load files up to this date.")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only this source (repeatable).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Files loaded at once (default: CREDIT_DW_INGEST_WORKERS).")
    ] = None,
) -> None:
    """Load what is new in the landing directory and print a table per file."""
    from zoneinfo import ZoneInfo

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingestion.load import ingest

    day = business_date.date() if business_date else datetime.now(ZoneInfo(get_settings().timezone)).date()
    warehouse.ensure_database(warehouse.database_url())  # a configured server may not have it yet
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=progress_console, transient=True) as bar:
        files = bar.add_task(f"landing files up to {day}", total=None)
        summary = ingest(day, sources=source, workers=workers,
                         progress=lambda done, total: bar.update(files, completed=done, total=total))
    table = Table(title=f"Ingestion up to {day}")
    for column in ("business date", "source", "file", "status", "read", "loaded", "quarantined"):
        table.add_column(column, justify="right" if column in {"read", "loaded", "quarantined"} else "left")
    for result in summary.files:
        if result.status == "skipped":
            continue
        table.add_row(
            str(result.business_date), result.source, Path(result.path).name,
            result.status if result.status != "failed" else "[red]failed[/red]",
            str(result.rows_read), str(result.rows_loaded), str(result.rows_quarantined),
        )
    console.print(table if table.row_count else "nothing new to load")
    handled = [result for result in summary.files if result.status != "skipped"]
    if handled:
        statuses = Counter(result.status for result in handled)
        console.print(
            f"{len(handled)} files: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
            + f"; {sum(r.rows_read for r in handled)} rows read, {sum(r.rows_loaded for r in handled)} loaded, "
            f"{sum(r.rows_quarantined for r in handled)} quarantined")
    reasons: Counter = Counter()
    for result in summary.files:
        reasons.update(result.reasons)
    for reason, count in reasons.most_common(10):
        console.print(f"  quarantined {count:>6}  {reason}")
    for failed in summary.failed:
        console.print(f"[red]failed:[/red] {failed.error}")
    if summary.failed:
        raise typer.Exit(1)


def _coloured_status(status: str) -> str:
    colour = {"loaded": "green", "failed": "red", "duplicate": "yellow", "superseded": "yellow"}.get(status)
    return f"[{colour}]{status}[/{colour}]" if colour else status


@app.command("nightly")
def nightly(business_date: BusinessDate, verbose: bool = typer.Option(False, help="Show Airflow's own log.")) -> None:
    """Run the credit_nightly DAG for one business date, in-process, and summarise it."""
    from credit_dw.orchestrator import NIGHTLY_DAG_ID, run_dag_in_process

    day = business_date.date()
    settings = get_settings()
    log_path = settings.home / "logs" / f"nightly_{day}_{datetime.now():%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    not_started = None
    with console.status(f"running {NIGHTLY_DAG_ID} for {day} (log: {log_path})") as status:
        capture = contextlib.nullcontext() if verbose else _output_to(log_path)
        with capture, _stage_progress(status, day):
            try:
                outcome = run_dag_in_process(NIGHTLY_DAG_ID, day)
            except Exception as error:  # set-up problems: no DAG, broken DAG file, no database, a run already on
                not_started = error
    if not_started is not None:  # printed once the output is the terminal's again, not the log file's
        console.print(f"[red]{NIGHTLY_DAG_ID} could not start:[/red] {not_started}")
        raise typer.Exit(2)
    _print_run_summary(outcome.run_id, day, time.perf_counter() - started, outcome.failed_tasks)
    if not outcome.succeeded:
        console.print(
            f"[red]{NIGHTLY_DAG_ID} {outcome.state}[/red] for {day}: failed task(s) "
            f"{', '.join(outcome.failed_tasks)}. Full log: {log_path}"
        )
        raise typer.Exit(1)
    console.print(f"[green]{NIGHTLY_DAG_ID} succeeded[/green] for {day}. Full log: {log_path}")


@app.command("backfill")
def backfill(
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First business date.")],
    end: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last business date.")],
) -> None:
    """Rebuild a range of business dates, one credit_nightly run per day, oldest first; stops at
    the first failed day. (With a scheduler running, `airflow backfill create` does the same.)"""
    from datetime import timedelta

    from credit_dw.orchestrator import NIGHTLY_DAG_ID, run_dag_in_process

    first, last = start.date(), end.date()
    if last < first:
        console.print(f"[red]--end {last} is before --start {first}[/red]")
        raise typer.Exit(2)
    log_path = get_settings().home / "logs" / f"backfill_{first}_{last}_{datetime.now():%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    table = Table(title=f"backfill {first}..{last}")
    for column in ("business date", "state", "seconds"):
        table.add_column(column)
    failed = None
    with console.status("backfilling") as status:
        for number, day in enumerate(days, start=1):
            status.update(f"backfill: {day} ({number}/{len(days)}), log: {log_path}")
            started = time.perf_counter()
            with _output_to(log_path):
                outcome = run_dag_in_process(NIGHTLY_DAG_ID, day)
            table.add_row(str(day), outcome.state, f"{time.perf_counter() - started:.0f}")
            if not outcome.succeeded:
                failed = (day, outcome)
                break
    console.print(table)
    if failed:
        day, outcome = failed
        console.print(f"[red]{day} {outcome.state}[/red]: failed task(s) {', '.join(outcome.failed_tasks)}; "
                      f"later days not run. Log: {log_path}")
        raise typer.Exit(1)


@contextlib.contextmanager
def _output_to(log_path: Path):
    """Send this process's stdout and stderr (Airflow's, dbt's, GX's chatter) to a log file, at the
    file-descriptor level so that subprocesses and C extensions are captured too."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def _stage_progress(status, day: date):
    """Show which stage is running while the DAG runs, from what the stages record."""
    from credit_dw.pipeline import running_stage

    done = threading.Event()

    def poll() -> None:
        while not done.wait(1.0):
            with contextlib.suppress(Exception):
                stage = running_stage(day)
                if stage:
                    status.update(f"credit_nightly {day}: {stage}…")

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _print_run_summary(run_id: str, day: date, seconds: float, failed_tasks: list[str]) -> None:
    from credit_dw.pipeline import stage_runs

    stages = {row["stage"]: row for row in stage_runs(run_id)}
    overview = Table(title=f"credit_nightly {day} ({seconds:.0f} s)")
    overview.add_column("stage")
    overview.add_column("status")
    overview.add_column("seconds", justify="right")
    overview.add_column("result")
    for name, task_id, describe in (
        ("ingest", "load.ingest", _describe_ingest),
        ("quality_gate", "load.quality_gate", _describe_quality),
        ("staging", "transform.build_staging", _describe_transform),
        ("resolve_entities", "transform.resolve_entities", _describe_counts),
        ("marts", "transform.build_marts", _describe_transform),
        ("publish", "transform.publish", _describe_publish),
        ("score_pd", "score.score_pd", _describe_counts),
        ("score", "score.decide", _describe_score),
        ("report", "score.report", _describe_report),
        ("webhooks", "score.notify", _describe_counts),
        ("quality_summary", "quality_summary", _describe_counts),
    ):
        row = stages.get(name)
        if row is None:
            # A task can fail before its stage records anything (e.g. an import error).
            failed = task_id in failed_tasks
            state = "[red]failed[/red]" if failed else "[dim]not run[/dim]"
            overview.add_row(name, state, "", "see the full log" if failed else "")
            continue
        colour = "green" if row["status"] == "success" else "red"
        result = describe(row["metrics"] or {})
        if row["error"]:
            result = f"{result}\n[red]{row['error']}[/red]" if result else f"[red]{row['error']}[/red]"
        overview.add_row(name, f"[{colour}]{row['status']}[/{colour}]", f"{row['seconds'] or 0:.1f}", result)
    console.print(overview)
    ingest_metrics = (stages.get("ingest") or {}).get("metrics") or {}
    if any(f["status"] != "skipped" for f in ingest_metrics.get("files", [])):
        console.print(_ingest_table(ingest_metrics["files"]))
    for line in ((stages.get("quality_summary") or {}).get("metrics") or {}).get("summary", []):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _describe_ingest(metrics: dict) -> str:
    files = [f for f in metrics.get("files", []) if f["status"] != "skipped"]
    statuses = Counter(f["status"] for f in files)
    rows = sum(f["rows_loaded"] for f in files)
    quarantined = sum(f["rows_quarantined"] for f in files)
    parts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "no new files"
    return f"{parts}; {rows} rows loaded, {quarantined} quarantined"


def _describe_quality(metrics: dict) -> str:
    suites = metrics.get("suites", [])
    if not suites:
        return "nothing new to check"
    passed = sum(1 for suite in suites if suite["success"])
    warnings = [suite for suite in suites if not suite["success"] and not suite.get("blocking", True)]
    text = f"{passed}/{len(suites)} suites passed"
    if warnings:
        text += f"; warnings: {', '.join(suite['suite'] for suite in warnings)}"
    return text


def _describe_transform(metrics: dict) -> str:
    if not metrics:
        return ""
    return f"{metrics.get('models_built', 0)} models built, {metrics.get('tests_passed', 0)} tests passed"


def _describe_counts(metrics: dict) -> str:
    """The first counts a stage reported, e.g. "records 195, customers 32"."""
    counts = [f"{key.replace('_', ' ')} {value}" for key, value in metrics.items()
              if isinstance(value, int) and not isinstance(value, bool)]
    return ", ".join(counts[:4])


def _describe_report(metrics: dict) -> str:
    if not metrics:
        return ""
    return f"{metrics.get('html')}" + (f" (+ PDF by {metrics['pdf_engine']})" if metrics.get("pdf") else "")


def _describe_publish(metrics: dict) -> str:
    if not metrics:
        return ""
    checks = _describe_quality(metrics)
    if not metrics.get("published"):
        return f"{checks}; [red]not published: yesterday's marts stay[/red]"
    return f"{checks}; {len(metrics.get('tables', {}))} tables published"


def _describe_score(metrics: dict) -> str:
    if not metrics:
        return ""
    from scoring.decisions import decisions_summary

    return decisions_summary(metrics)


def _ingest_table(files: list[dict]) -> Table:
    per_source: dict[str, Counter] = defaultdict(Counter)
    for result in files:
        if result["status"] == "skipped":
            continue
        counts = per_source[result["source"]]
        counts["files"] += 1
        counts[result["status"]] += 1
        counts["rows"] += result["rows_loaded"]
        counts["quarantined"] += result["rows_quarantined"]
    table = Table(title="Loaded per source")
    statuses = ("loaded", "duplicate", "superseded", "failed")
    for column in ("source", "files", *statuses, "rows", "quarantined"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, counts in sorted(per_source.items()):
        table.add_row(source, *(str(counts[key]) for key in ("files", *statuses, "rows", "quarantined")))
    return table
