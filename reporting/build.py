"""``build_report``: read the warehouse for one business date, write the HTML page and its PDF."""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from credit_dw import warehouse
from credit_dw.settings import get_settings

log = logging.getLogger(__name__)

HTML_NAME = "credit_report.html"
PDF_NAME = "credit_report.pdf"
# Sections whose absence makes the report incomplete (the others are optional until their tables land).
ESSENTIAL = ("exposure", "aging", "data_quality")


def default_out_dir(as_of_date: date) -> Path:
    return get_settings().home / "reports" / as_of_date.isoformat()


def build_report(
    as_of_date: date | str,
    *,
    database_url: str | None = None,
    out_dir: Path | str | None = None,
    pdf: str | None = "auto",
) -> dict[str, Any]:
    """Write ``credit_report.html`` (and ``credit_report.pdf``) for ``as_of_date`` into ``out_dir``
    (default ``<CREDIT_DW_HOME>/reports/<date>/``) and return the paths and a summary.

    ``pdf``: ``auto`` (headless Chromium when installed, else matplotlib), ``chromium``,
    ``matplotlib``, or None for no PDF. The returned dict is JSON-serialisable (Airflow XCom), and
    ``as_of_date`` may be an ISO string (as Airflow hands dates between tasks).
    """
    from reporting import charts, page
    from reporting.pdf import write_pdf
    from reporting.queries import read_report_data

    started = time.perf_counter()
    if isinstance(as_of_date, str):
        as_of_date = date.fromisoformat(as_of_date)
    settings = get_settings()
    url = database_url or warehouse.database_url()
    target = Path(out_dir) if out_dir is not None else default_out_dir(as_of_date)
    target.mkdir(parents=True, exist_ok=True)

    with warehouse.connect(url) as conn:
        # one consistent snapshot, even while a publication swaps the marts
        conn.execute("set transaction isolation level repeatable read read only")
        data = read_report_data(conn, as_of_date, timezone=settings.timezone)

    warnings = [f"{key}: {note}" for key, note in data.notes.items() if key in ESSENTIAL]
    figures = charts.draw_all(data)
    titles = {key: charts.title_of(figure) or key for key, figure in figures.items()}
    svgs = {key: charts.to_svg(figure, key, titles[key]) for key, figure in figures.items()}
    generated_at = datetime.now(ZoneInfo(settings.timezone))
    html_path = target / HTML_NAME
    html_path.write_text(page.render(data, svgs, generated_at=generated_at, warnings=warnings), encoding="utf-8")

    pdf_path, engine = None, None
    if pdf:
        pdf_path = target / PDF_NAME
        engine = write_pdf(html_path, pdf_path, data, figures, engine=pdf)
    result = {
        "as_of_date": as_of_date.isoformat(),
        "html": str(html_path),
        "pdf": str(pdf_path) if pdf_path else None,
        "pdf_engine": engine,
        "charts": list(figures),
        "complete": not warnings,
        "notes": dict(data.notes),
        "summary": _summary(data),
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("credit report for %s written to %s (%s charts, pdf by %s)", as_of_date, html_path, len(figures), engine)
    return result


def _summary(data) -> dict[str, Any]:
    exposure, aging, dso = data.section("exposure"), data.section("aging"), data.section("dso_cei")
    alerts, quality, scores = data.section("alerts"), data.section("data_quality"), data.section("scores")
    risk = data.section("exposure_by_risk")
    latest = dso.get("latest") or {}
    return {
        "customers": exposure.get("customers"),
        "exposure_cny": _round(exposure.get("exposure_cny")),
        "credit_limit_cny": _round(exposure.get("credit_limit_cny")),
        "over_limit": exposure.get("over_limit"),
        "open_receivables_cny": _round(aging.get("total")),
        "overdue_cny": _round(aging.get("overdue")),
        "exposure_by": risk.get("by"),
        "dso_simple": latest.get("dso_simple"),
        "cei": latest.get("collection_effectiveness_index"),
        "alerts_open": alerts.get("open"),
        "alerts_new": alerts.get("new"),
        "pd_model": scores.get("model_version"),
        "psi_shifted": [row["feature"] for row in scores.get("psi") or [] if row.get("status") == "shifted"],
        "dq_run_id": quality.get("run_id"),
        "checks_run": quality.get("checks_run"),
        "checks_failed": quality.get("checks_failed"),
        "rows_quarantined": quality.get("rows_quarantined"),
        "files_failed": quality.get("files_failed"),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
