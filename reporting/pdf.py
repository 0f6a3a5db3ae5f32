"""The report's PDF: headless Chromium prints the HTML page when a Chromium is installed (same
layout, CJK names in whatever CJK font the system has); otherwise matplotlib writes the same charts
and the key tables with ``PdfPages``, needing nothing beyond the Python packages.

Chromium runs offline on a local file: no network, no extensions, a throw-away profile, and the
page has no script and no external reference. ``--no-sandbox`` because it often runs as root or in
containers without user namespaces; it only ever opens the file this module just wrote.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findSystemFonts

from reporting.charts import STYLE, amount
from reporting.queries import ReportData

log = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
)
CJK_FONT_FILES = ("NotoSansCJK", "NotoSansSC", "SourceHanSans", "wqy-zenhei", "wqy-microhei", "msyh", "PingFang",
                  "DroidSansFallback", "simhei", "simsun")
A4 = (8.27, 11.69)


def find_chromium() -> str | None:
    """A Chromium or Chrome executable: ``CREDIT_DW_CHROMIUM`` if set, else the first on PATH."""
    configured = os.environ.get("CREDIT_DW_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(chromium: str, profile_dir: Path, *extra: str) -> list[str]:
    return [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *extra]


def print_with_chromium(html_path: Path, pdf_path: Path, chromium: str, *, timeout: int = 120) -> None:
    with tempfile.TemporaryDirectory(prefix="credit_dw_chromium_") as profile:
        command = chromium_command(chromium, Path(profile), "--no-pdf-header-footer",
                                   f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri())
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "HOME": profile})
    if result.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-3:])
        raise RuntimeError(f"chromium could not print the report (exit {result.returncode}): {tail}")


def write_pdf(html_path: Path, pdf_path: Path, data: ReportData, figures: dict[str, Figure], *,
              engine: str = "auto") -> str:
    """Write the PDF and say how: ``chromium`` or ``matplotlib``. ``engine``: auto, chromium, matplotlib."""
    if engine not in {"auto", "chromium", "matplotlib"}:
        raise ValueError("pdf engine must be auto, chromium or matplotlib")
    pdf_path.unlink(missing_ok=True)
    if engine in {"auto", "chromium"}:
        chromium = find_chromium()
        if chromium is None and engine == "chromium":
            raise RuntimeError("no chromium found (install it or set CREDIT_DW_CHROMIUM)")
        if chromium is not None:
            try:
                print_with_chromium(html_path, pdf_path, chromium)
                return "chromium"
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                if engine == "chromium":
                    raise
                log.warning("%s; writing the PDF with matplotlib instead", error)
    write_matplotlib_pdf(pdf_path, data, figures)
    return "matplotlib"


# ------------------------------------------------------------------------------------ matplotlib fallback

def cjk_font() -> FontProperties | None:
    """A font with Chinese glyphs among the system's fonts, if any (a regular weight first)."""
    found = [path for path in findSystemFonts()
             if any(marker.lower() in Path(path).name.lower() for marker in CJK_FONT_FILES)]
    weights = ("regular", "medium", "")  # "" matches any other weight
    found.sort(key=lambda path: (next(i for i, w in enumerate(weights) if w in Path(path).name.lower()), path))
    return FontProperties(fname=found[0]) if found else None


def write_matplotlib_pdf(pdf_path: Path, data: ReportData, figures: dict[str, Figure]) -> None:
    import matplotlib

    font = cjk_font()
    with matplotlib.rc_context(STYLE), PdfPages(pdf_path, metadata={"Title": f"Credit risk report {data.as_of_date}",
                                                                    "Creator": "credit-dw"}) as pdf:
        pdf.savefig(_cover(data, font))
        for figure in figures.values():
            pdf.savefig(figure)
        table = _top_table(data, font)
        if table is not None:
            pdf.savefig(table)
        quality = _quality_table(data)
        if quality is not None:
            pdf.savefig(quality)


def _text_page(title: str) -> tuple[Figure, object]:
    figure = Figure(figsize=A4)
    axes = figure.add_axes((0.07, 0.05, 0.86, 0.88))
    axes.axis("off")
    figure.text(0.07, 0.95, title, fontsize=15, fontweight="bold")
    return figure, axes


def _cover(data: ReportData, font: FontProperties | None) -> Figure:
    figure, _ = _text_page(f"Credit risk report · {data.as_of_date}")
    lines = [f"Warehouse {data.database}"]
    exposure, aging, dso = data.section("exposure"), data.section("aging"), data.section("dso_cei")
    alerts, quality, scores = data.section("alerts"), data.section("data_quality"), data.section("scores")
    if exposure:
        lines += [f"Total exposure {amount(exposure.get('exposure_cny'))} CNY against limits of "
                  f"{amount(exposure.get('credit_limit_cny'))} CNY; {exposure['over_limit']} customers over limit"]
    if aging:
        share = aging["overdue_share"]
        lines += [f"Open receivables {amount(aging['total'])} CNY, overdue {amount(aging['overdue'])}"
                  + (f" ({share:.1%})" if share is not None else "")]
    if dso:
        latest = dso["latest"]
        lines += [f"DSO {latest.get('dso_simple')} days, CEI {latest.get('collection_effectiveness_index')}% "
                  f"(as of {latest['as_of_date']})"]
    if alerts:
        lines += [f"Alerts: {alerts['open']} open, {alerts['new']} new, {alerts['resolved_today']} resolved today"]
    if scores:
        lines += [f"PD model {scores['model_version']} scored {scores.get('customers')} customers on "
                  f"{scores['score_date']}"]
    if quality:
        lines += [f"Quality: {quality['checks_run']} checks, {quality['checks_failed']} failed; "
                  f"{quality['rows_quarantined']} rows quarantined; {quality['files_failed']} files failed"]
    for key, note in data.notes.items():
        lines += [f"Note ({key}): {note}"]
    if font is None:
        lines += ["", "No CJK font installed: customer names are left out of this PDF (see the HTML report)."]
    y = 0.90
    for line in lines:
        figure.text(0.07, y, line, fontsize=10, wrap=True, fontproperties=font)
        y -= 0.035
    return figure


def _top_table(data: ReportData, font: FontProperties | None) -> Figure | None:
    top = data.section("exposure").get("top") or []
    if not top:
        return None
    figure, axes = _text_page(f"Top {len(top)} exposures against limits · {data.as_of_date}")
    head = ["#", "customer", "name", "ccy", "exposure", "limit", "util."]
    rows = [[str(n), r["customer_id"], (r.get("customer_name") or "")[:22] if font else "", r["currency"],
             f"{r['exposure']:,.0f}", "" if r["credit_limit"] is None else f"{r['credit_limit']:,.0f}",
             "" if r.get("utilisation") is None else f"{r['utilisation']:.0%}"] for n, r in enumerate(top, start=1)]
    table = axes.table(cellText=rows, colLabels=head, loc="upper center", cellLoc="left",
                       colWidths=[0.04, 0.12, 0.36, 0.06, 0.16, 0.16, 0.08])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (row, _column), cell in table.get_celld().items():
        cell.set_edgecolor("#e2e8f0")
        if font is not None:
            cell.get_text().set_fontproperties(font)
            cell.get_text().set_fontsize(8)
        if row and top[row - 1].get("is_over_limit"):
            cell.set_facecolor("#fef2f2")
    return figure


def _quality_table(data: ReportData) -> Figure | None:
    quality = data.section("data_quality")
    if not quality or not quality["sources"]:
        return None
    figure, axes = _text_page(f"Data quality · run {quality['run_id']}")
    head = ["source", "files loaded", "failed", "rows read", "loaded", "quarantined"]
    rows = [[s["source"], str(s["files_loaded"]), str(s["files_failed"]), str(s["rows_read"]), str(s["rows_loaded"]),
             str(s["rows_quarantined"])] for s in quality["sources"]]
    rows += [["", "", "", "", "", ""]] + [[s["suite_name"], "passed" if s["success"] else "FAILED",
                                           "blocking" if s["blocking"] else "", str(s["evaluated"]), str(s["failed"]),
                                           ""] for s in quality["suites"] if not s["success"]]
    table = axes.table(cellText=rows, colLabels=head, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for cell in table.get_celld().values():
        cell.set_edgecolor("#e2e8f0")
    return figure
