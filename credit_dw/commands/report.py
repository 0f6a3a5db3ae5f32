"""``credit-dw report --date D``: the nightly credit-risk report (HTML with inline charts, and a PDF)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="The credit-risk report for a business date: HTML page and PDF.")
console = Console()
err = Console(stderr=True)


def _reporting():
    import reporting  # imported on use: matplotlib is slow to import

    return reporting


@app.callback(invoke_without_command=True)
def report(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")],
    out: Annotated[Path | None, typer.Option(
        help="Output directory (default: <CREDIT_DW_HOME>/reports/<date>/).", file_okay=False)] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write credit_report.pdf.")] = True,
    pdf_engine: Annotated[str, typer.Option(
        help="auto (headless Chromium when installed, else matplotlib), chromium or matplotlib.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write credit_report.html (charts inline, works offline, phone and desktop) and credit_report.pdf."""
    if pdf_engine not in {"auto", "chromium", "matplotlib"}:
        err.print("[red]--pdf-engine must be auto, chromium or matplotlib[/red]")
        raise typer.Exit(2)
    reporting = _reporting()
    try:
        result = reporting.build_report(day.date(), out_dir=out, pdf=pdf_engine if pdf else None)
    except RuntimeError as error:  # e.g. --pdf-engine chromium without a chromium
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    console.print(f"report for {result['as_of_date']}: {result['html']}", highlight=False, soft_wrap=True)
    if result["pdf"]:
        console.print(f"pdf ({result['pdf_engine']}): {result['pdf']}", highlight=False, soft_wrap=True)
    summary = result["summary"]
    if summary.get("customers"):
        console.print(
            f"{summary['customers']} customers, exposure {summary['exposure_cny']:,.0f} CNY, "
            f"{summary['over_limit']} over limit; alerts {summary.get('alerts_open')} open "
            f"({summary.get('alerts_new')} new); charts: {', '.join(result['charts'])}",
            highlight=False, soft_wrap=True)
    for section, note in result["notes"].items():
        console.print(f"[yellow]{section}:[/yellow] {note}", highlight=False, soft_wrap=True)
    if not result["complete"]:
        err.print("[yellow]the report is incomplete (see the notes above)[/yellow]")
