"""The report's charts, drawn with matplotlib: inline SVG for the HTML page, the same figures for
the PDF when no browser prints it.

SVG text stays text (``svg.fonttype: none``) with the page's CJK-capable font stack, so the browser
draws it and it scales with the chart; each SVG keeps only its ``viewBox`` (no fixed size) and its
ids are prefixed with the chart's key so that several charts live in one page. Charts label
customers by id: their (Chinese) names sit in the HTML tables, where any installed CJK font renders
them, instead of depending on a CJK font being known to matplotlib.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import matplotlib
from matplotlib.figure import Figure  # figures without pyplot: no backend, no GUI, no global state
from matplotlib.ticker import FuncFormatter, MaxNLocator

from reporting.queries import SEVERITIES, ReportData

FONT_STACK = ('-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
              '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif')
WIDTH = 4.6  # inches = 331 pt: drawn at about 1:1 in a phone's column, so 10 pt text stays legible
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "credit-dw-report",  # stable ids: the same data gives the same bytes
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # measuring only: the browser draws with FONT_STACK
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#94a3b8",
    "axes.labelcolor": "#334155",
    "xtick.color": "#334155",
    "ytick.color": "#334155",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "figure.dpi": 100,
}
BLUE, LIGHT, RED, AMBER, GREEN, GREY, INK = "#2563eb", "#cbd5e1", "#dc2626", "#f59e0b", "#16a34a", "#64748b", "#0f172a"
BUCKET_COLOURS = ("#16a34a", "#84cc16", "#facc15", "#f59e0b", "#ea580c", "#b91c1c")
SEVERITY_COLOURS = {"critical": "#7f1d1d", "high": RED, "medium": AMBER, "low": "#38bdf8"}
PSI_COLOURS = {"stable": GREEN, "watch": AMBER, "shifted": RED, "unknown": GREY}


def amount(value: float | None) -> str:
    """12,345,678 -> 12.3M; 45,600 -> 45.6k."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


_AMOUNT_AXIS = FuncFormatter(lambda value, _position: amount(value))


def _figure(height: float, rows: int = 1, **options: Any) -> tuple[Figure, Any]:
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(WIDTH, height), layout="constrained")
        axes = figure.subplots(rows, 1, **options)
    figure.patch.set_alpha(0)
    return figure, axes


def _title(figure: Figure, text: str) -> None:
    """The chart's title, from the figure's left edge (long tick labels do not push it out of the chart)."""
    figure.suptitle(text, x=0.01, ha="left", fontsize=10.5, fontweight="bold")


def title_of(figure: Figure) -> str:
    return figure.get_suptitle()


def _style(figure: Figure) -> None:
    for axes in figure.axes:
        axes.set_facecolor("none")


# ------------------------------------------------------------------------------------------------ charts

def exposure_by_risk(data: ReportData) -> Figure | None:
    section = data.section("exposure_by_risk")
    rows = section.get("rows") or []
    if not rows:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(2.9)
        labels = [row["label"] for row in rows]
        values = [row["exposure_cny"] or 0.0 for row in rows]
        if section["by"] == "grade":
            graded = [row for row in rows if row["grade"] is not None]
            top = max((row["grade"] for row in graded), default=1)
            colours = [GREY if row["grade"] is None else _ramp(row["grade"] / max(top, 1)) for row in rows]
            _title(figure, "Exposure by rating grade (CNY)")
            axes.set_xlabel(f"grade (model {section['model_version']}, scored {section['score_date']})")
        else:
            colours = [GREEN, BLUE, AMBER, RED, "#7f1d1d", GREY][:len(rows)]
            _title(figure, "Exposure by limit utilisation (CNY)")
            axes.set_xlabel("utilisation band (no rating grades yet)")
        bars = axes.bar(range(len(rows)), values, color=colours, width=0.7)
        axes.set_xticks(range(len(rows)), labels)
        axes.yaxis.set_major_formatter(_AMOUNT_AXIS)
        axes.grid(axis="y", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        axes.margins(y=0.18)
        for bar, row in zip(bars, rows, strict=True):
            axes.annotate(f"{amount(row['exposure_cny'])}\n{row['customers']} cust.",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                          textcoords="offset points", ha="center", va="bottom", fontsize=8.5, color=INK)
        _style(figure)
    return figure


def aging_waterfall(data: ReportData) -> Figure | None:
    section = data.section("aging")
    if not section:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(2.9)
        buckets = section["buckets"]
        base = 0.0
        labels = [bucket["bucket"] for bucket in buckets] + ["total"]
        for number, bucket in enumerate(buckets):
            value = bucket["open_amount"] or 0.0
            axes.bar(number, value, bottom=base, color=BUCKET_COLOURS[number], width=0.7)
            if number:  # the connector from the previous bar's top
                axes.plot([number - 1.35, number - 0.35], [base, base], color=GREY, linewidth=0.6)
            axes.annotate(amount(value), (number, base + value), xytext=(0, 2), textcoords="offset points",
                          ha="center", va="bottom", fontsize=8.5, color=INK)
            base += value
        axes.bar(len(buckets), base, color=BLUE, width=0.7)
        axes.plot([len(buckets) - 1.35, len(buckets) - 0.35], [base, base], color=GREY, linewidth=0.6)
        axes.annotate(amount(base), (len(buckets), base), xytext=(0, 2), textcoords="offset points",
                      ha="center", va="bottom", fontsize=8.5, color=INK, fontweight="bold")
        axes.set_xticks(range(len(labels)), labels)
        _title(figure, "Aging waterfall (CNY)")
        axes.set_xlabel("days past due")
        axes.yaxis.set_major_formatter(_AMOUNT_AXIS)
        axes.grid(axis="y", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        axes.set_ylim(0, max(base, 1.0) * 1.16)
        _style(figure)
    return figure


def dso_cei_trend(data: ReportData) -> Figure | None:
    points = data.section("dso_cei").get("points") or []
    if not points:
        return None
    with matplotlib.rc_context(STYLE):
        figure, (dso, cei) = _figure(3.6, rows=2, sharex=True, height_ratios=[3, 2])
        x = list(range(len(points)))
        ticks = [_short_date(p["as_of_date"], p.get("is_month_end")) for p in points]
        series = (("dso_simple", "DSO", BLUE, "-"), ("dso_count_back", "DSO count-back", "#7c3aed", "-"),
                  ("best_possible_dso", "best possible", GREEN, "--"))
        for key, label, colour, style in series:
            values = [_nan(p.get(key)) for p in points]
            dso.plot(x, values, style, color=colour, label=label, marker="o", markersize=3.5, linewidth=1.6)
        _title(figure, "DSO and CEI")
        dso.set_ylabel("days")
        dso.legend(loc="upper left", ncols=3, fontsize=8.5)
        drawn = [_nan(p.get(key)) for p in points for key, *_ in series]
        highest = max([value for value in drawn if not math.isnan(value)] + [1.0])
        dso.set_ylim(0, highest * 1.4)  # room for the legend above the lines
        cei_values = [_nan(p.get("collection_effectiveness_index")) for p in points]
        cei.plot(x, cei_values, "-", color=AMBER, marker="o", markersize=3.5, linewidth=1.6)
        cei.set_ylabel("CEI %")
        cei.set_ylim(0, max([105.0] + [v for v in cei_values if not math.isnan(v)]))
        cei.axhline(80, color=LIGHT, linewidth=0.8, linestyle=":")
        cei.set_xticks(x, ticks, rotation=45 if len(points) > 6 else 0, ha="right" if len(points) > 6 else "center")
        cei.set_xlim(-0.5, len(points) - 0.5)
        for axes in (dso, cei):
            axes.grid(axis="y", color="#e2e8f0", linewidth=0.6)
            axes.set_axisbelow(True)
        _style(figure)
    return figure


def top_exposures(data: ReportData) -> Figure | None:
    top = data.section("exposure").get("top") or []
    if not top:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(1.1 + 0.24 * len(top))
        y = list(range(len(top)))[::-1]
        limits = [_zero(row.get("credit_limit_cny")) for row in top]
        exposures = [_zero(row.get("exposure_cny")) for row in top]
        colours = [RED if row.get("is_over_limit") else BLUE for row in top]
        axes.barh(y, limits, height=0.78, color=LIGHT, label="credit limit")
        axes.barh(y, exposures, height=0.42, color=colours, label="exposure")
        for position, row, value in zip(y, top, exposures, strict=True):
            utilisation = row.get("utilisation")
            text = "no limit" if utilisation is None else f"{utilisation:.0%}"
            axes.annotate(text, (max(value, _zero(row.get("credit_limit_cny"))), position), xytext=(3, 0),
                          textcoords="offset points", va="center", fontsize=8.5,
                          color=RED if row.get("is_over_limit") else GREY)
        axes.set_yticks(y, [row["customer_id"] for row in top], fontsize=9)
        axes.xaxis.set_major_formatter(_AMOUNT_AXIS)
        axes.xaxis.set_major_locator(MaxNLocator(5))
        _title(figure, f"Top {len(top)} exposures vs limits (CNY)")
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        axes.margins(x=0.12)
        handles = [axes.patches[0], axes.patches[len(top)]]
        figure.legend(handles, ["credit limit", "exposure (red: over limit)"], loc="outside lower center", ncols=2)
        _style(figure)
    return figure


def alerts_by_severity(data: ReportData) -> Figure | None:
    section = data.section("alerts")
    if not section:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(2.3)
        severities = [s for s in SEVERITIES if s in section["by_severity"]]
        y = list(range(len(severities)))[::-1]
        live = [section["by_severity"][s]["open"] for s in severities]
        new = [section["by_severity"][s]["new"] for s in severities]
        axes.barh([p + 0.18 for p in y], live, height=0.36, color=[SEVERITY_COLOURS[s] for s in severities],
                  label="open")
        axes.barh([p - 0.18 for p in y], new, height=0.36, color=[SEVERITY_COLOURS[s] for s in severities],
                  alpha=0.45, hatch="///", edgecolor="white", linewidth=0, label="new today")
        for position, count, fresh in zip(y, live, new, strict=True):
            axes.annotate(str(count), (count, position + 0.18), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=8.5)
            axes.annotate(str(fresh), (fresh, position - 0.18), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=8.5, color=GREY)
        axes.set_yticks(y, severities)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0, max(live + [1]) * 1.15)
        _title(figure, f"Alerts: {section['open']} open, {section['new']} new")
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=2)
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        _style(figure)
    return figure


def pd_distribution(data: ReportData) -> Figure | None:
    section = data.section("scores")
    grades = section.get("grades") or []
    if not grades:
        return None
    labels = section.get("grade_labels") or {}
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(2.7)
        every = sorted(set(labels) | {row["grade"] for row in grades})
        counts = {row["grade"]: row["customers"] for row in grades}
        top = max(every)
        bars = axes.bar(range(len(every)), [counts.get(g, 0) for g in every],
                        color=[_ramp(g / max(top, 1)) for g in every], width=0.7)
        for bar, grade in zip(bars, every, strict=True):
            if counts.get(grade):
                axes.annotate(str(counts[grade]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                              xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8.5)
        axes.set_xticks(range(len(every)), [str(g) for g in every])
        axes.set_xlabel("grade (1 = lowest PD)")
        axes.set_ylabel("customers")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        mean = section.get("mean_pd")
        _title(figure, f"Customers per grade (mean PD {mean:.2%})" if mean is not None else "Customers per grade")
        axes.grid(axis="y", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        axes.margins(y=0.15)
        _style(figure)
    return figure


def psi(data: ReportData) -> Figure | None:
    rows = [row for row in data.section("scores").get("psi") or [] if row.get("value") is not None][:12]
    if not rows:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(1.0 + 0.26 * len(rows))
        y = list(range(len(rows)))[::-1]
        values = [row["value"] for row in rows]
        axes.barh(y, values, height=0.6, color=[PSI_COLOURS.get(row["status"] or "unknown", GREY) for row in rows])
        for position, value in zip(y, values, strict=True):
            axes.annotate(f"{value:.3f}", (value, position), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=8.5)
        axes.set_yticks(y, [_shorten(row["feature"], 30) for row in rows], fontsize=8.5)
        for threshold, colour, label in ((0.1, AMBER, "0.1 watch"), (0.25, RED, "0.25 shifted")):
            axes.axvline(threshold, color=colour, linewidth=0.8, linestyle="--", label=label)
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=2)
        axes.set_xlim(0, max(values + [0.3]) * 1.2)
        _title(figure, "PSI against the training sample")
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        _style(figure)
    return figure


def quarantine_by_source(data: ReportData) -> Figure | None:
    sources = data.section("data_quality").get("sources") or []
    if not sources:
        return None
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure(0.9 + 0.34 * len(sources))
        y = list(range(len(sources)))[::-1]
        quarantined = [row["rows_quarantined"] for row in sources]
        axes.barh(y, quarantined, height=0.6, color=[RED if q else LIGHT for q in quarantined])
        for position, row in zip(y, sources, strict=True):
            share = row["rows_quarantined"] / row["rows_read"] if row["rows_read"] else 0.0
            axes.annotate(f"{row['rows_quarantined']} of {row['rows_read']} rows ({share:.2%})",
                          (row["rows_quarantined"], position), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=8.5, color=INK)
        axes.set_yticks(y, [row["source"] for row in sources])
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0, max(quarantined + [1]) * 2.2)
        _title(figure, "Rows quarantined per source")
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        _style(figure)
    return figure


# Order on the page and in the PDF; keys name the SVGs (data-chart) and their ids.
CHARTS: dict[str, Callable[[ReportData], Figure | None]] = {
    "exposure-by-risk": exposure_by_risk,
    "aging-waterfall": aging_waterfall,
    "dso-cei-trend": dso_cei_trend,
    "top-exposures": top_exposures,
    "alerts": alerts_by_severity,
    "pd-distribution": pd_distribution,
    "psi": psi,
    "quarantine": quarantine_by_source,
}


def draw_all(data: ReportData) -> dict[str, Figure]:
    figures = {}
    for key, draw in CHARTS.items():
        figure = draw(data)
        if figure is not None:
            figures[key] = figure
    return figures


# ------------------------------------------------------------------------------------------------- SVG

_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(figure: Figure, key: str, title: str) -> str:
    """The figure as an inline ``<svg>`` element: no prolog, no fixed size, no external references,
    ids prefixed with ``key``, text in the page's font stack."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'<style type="text/css">.*?</style>', "", svg, flags=re.S)  # a global '*' rule
    opening = svg[:svg.index(">") + 1]
    view_box = re.search(r'viewBox="([^"]+)"', opening).group(1)
    svg = svg.replace(opening, f'<svg viewBox="{view_box}" role="img" aria-label="{_attr(title)}" '
                               f'data-chart="{key}" preserveAspectRatio="xMidYMid meet">'
                               f'<title>{_text(title)}</title>', 1)
    ids = set(_ID.findall(svg))
    svg = _ID.sub(lambda m: f'id="{key}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{key}-{m.group(1)})" if m.group(1) in ids else m.group(0), svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'href="#{key}-{m.group(1)}"', svg)
    svg = re.sub(r"font-family: [^;\"]+", "font-family: " + FONT_STACK.replace('"', "'"), svg)
    return svg.strip()


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------- helpers

def _ramp(share: float) -> str:
    """Green (low risk) to red (high risk)."""
    share = min(max(share, 0.0), 1.0)
    start, middle, end = (0x16, 0xA3, 0x4A), (0xF5, 0x9E, 0x0B), (0xB9, 0x1C, 0x1C)
    low, high, t = (start, middle, share * 2) if share < 0.5 else (middle, end, share * 2 - 1)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(low, high, strict=True))


def _short_date(day: date, is_month_end: bool | None) -> str:
    return day.strftime("%Y-%m") if is_month_end else day.isoformat()


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _zero(value: float | None) -> float:
    return 0.0 if value is None else float(value)


def _shorten(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"
