"""The report as one self-contained HTML page: inline CSS and SVG, no script, no external reference.

Responsive: a viewport meta, charts that scale to the width of their column (one column on a
phone, two on a desktop), tables that scroll sideways inside their box, a print style for the PDF.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from typing import Any

from reporting.charts import FONT_STACK
from reporting.queries import NO_LIMIT_BAND, ReportData

CSS = """
:root { color-scheme: light; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f1f5f9; --card: #fff;
        --blue: #2563eb; --red: #b91c1c; --amber: #b45309; --green: #15803d; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; font-family: FONT_STACK; color: var(--ink); background: var(--bg); line-height: 1.45;
       font-size: 15px; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 14px; }
header { padding-top: 18px; }
h1 { font-size: clamp(1.35rem, 4.5vw, 1.9rem); margin: 0 0 2px; }
h2 { font-size: 1.15rem; margin: 0 0 10px; }
h3 { font-size: 0.95rem; margin: 14px 0 6px; }
.meta { color: var(--muted); font-size: 0.85rem; margin: 0; }
nav { position: sticky; top: 0; z-index: 1; display: flex; gap: 6px; overflow-x: auto; padding: 10px 0;
      background: var(--bg); scrollbar-width: none; }
nav a { flex: none; color: var(--ink); text-decoration: none; font-size: 0.82rem; padding: 4px 10px;
        border: 1px solid var(--line); border-radius: 999px; background: var(--card); }
.warnings { border-left: 4px solid var(--amber); background: #fffbeb; padding: 8px 12px; margin: 10px 0;
            border-radius: 6px; font-size: 0.88rem; }
.warnings ul { margin: 4px 0 0; padding-left: 18px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(46%, 170px), 1fr)); gap: 10px;
        margin: 12px 0; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; }
.kpi .label { color: var(--muted); font-size: 0.78rem; }
.kpi .value { font-size: 1.3rem; font-weight: 650; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.kpi .sub { color: var(--muted); font-size: 0.76rem; }
.kpi.bad .value { color: var(--red); }
.kpi.good .value { color: var(--green); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px;
          margin: 14px 0; scroll-margin-top: 52px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); gap: 18px;
        align-items: start; }
figure.chart { margin: 0; min-width: 0; }
figure.chart svg { display: block; width: 100%; height: auto; max-width: 680px; }
figcaption, .note { color: var(--muted); font-size: 0.8rem; margin-top: 4px; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; min-width: 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.84rem; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap;
         vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 0.76rem; text-transform: uppercase; letter-spacing: .02em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { white-space: normal; min-width: 11em; }
td.wrap { white-space: normal; min-width: 14em; }
tr.over td { background: #fef2f2; }
.sev, .status { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 0.75rem; color: #fff; }
.sev-critical { background: #7f1d1d; } .sev-high { background: #dc2626; } .sev-medium { background: #d97706; }
.sev-low { background: #0284c7; }
.status-success, .status-stable { background: var(--green); }
.status-failed, .status-shifted { background: var(--red); }
.status-running, .status-watch { background: #d97706; } .status-unknown { background: var(--muted); }
details summary { cursor: pointer; color: var(--blue); font-size: 0.85rem; margin: 8px 0; }
footer { color: var(--muted); font-size: 0.78rem; padding-bottom: 24px; }
footer dt { font-weight: 600; color: var(--ink); } footer dd { margin: 0 0 6px; }
@media (max-width: 480px) { body { font-size: 14px; } section { padding: 10px; border-radius: 10px; }
  header, main, footer { padding: 0 10px; } }
@page { size: A4; margin: 12mm; }
@media print {
  html { font-size: 12px; } body { background: #fff; font-size: 11px; } nav { display: none; }
  header, main, footer { max-width: none; padding: 0; }
  section { border: none; padding: 0; margin: 0 0 14px; }
  figure.chart, tr, .kpi { break-inside: avoid; }
  .grid { grid-template-columns: 1fr 1fr; }
  .table-wrap { overflow: visible; } th, td { white-space: normal; }
}
""".replace("FONT_STACK", FONT_STACK)

SECTIONS = (
    ("risk", "Exposure by risk"), ("aging", "Aging"), ("dso", "DSO / CEI"), ("top", "Top exposures"),
    ("alerts", "Alerts"), ("worklist", "Worklist"), ("pd", "PD & PSI"), ("dq", "Data quality"),
)


def render(data: ReportData, svgs: dict[str, str], *, generated_at: datetime, warnings: list[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>Credit risk report {data.as_of_date}</title>",
        f"<style>{CSS}</style></head><body>",
        _header(data, generated_at, warnings),
        "<main>",
        _kpis(data),
        _risk(data, svgs), _aging(data, svgs), _dso(data, svgs), _top(data, svgs), _alerts(data, svgs),
        _worklist(data), _pd(data, svgs), _dq(data, svgs),
        "</main>",
        _footer(data),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------ blocks

def _header(data: ReportData, generated_at: datetime, warnings: list[str]) -> str:
    publication = data.section("publication")
    published = ""
    if publication:
        published = (f" · marts last published for {escape(str(publication['business_date']))}"
                     f" (run {escape(str(publication['run_id']))})")
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in SECTIONS)
    notes = ""
    if warnings:
        notes = ('<div class="warnings"><strong>Incomplete report</strong><ul>'
                 + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul></div>")
    return (f"<header><h1>Credit risk report · {escape(data.as_of_date.isoformat())}</h1>"
            f'<p class="meta">Business date {escape(data.as_of_date.isoformat())} · warehouse '
            f"<code>{escape(data.database)}</code>{published} · generated "
            f"{escape(generated_at.strftime('%Y-%m-%d %H:%M %Z'))}</p>"
            f"<nav>{nav}</nav>{notes}</header>")


def _kpis(data: ReportData) -> str:
    exposure, aging, dso = data.section("exposure"), data.section("aging"), data.section("dso_cei")
    alerts, quality = data.section("alerts"), data.section("data_quality")
    cards = []
    if exposure:
        limit = exposure.get("credit_limit_cny") or 0.0
        utilisation = (exposure.get("exposure_cny") or 0.0) / limit if limit else None
        cards.append(_card("Total exposure (CNY)", _money(exposure.get("exposure_cny")),
                           f"{exposure['customers_with_exposure']} of {exposure['customers']} customers"))
        cards.append(_card("Credit limits (CNY)", _money(limit), f"utilisation {_pct(utilisation)}"))
        cards.append(_card("Over limit", str(exposure["over_limit"]),
                           f"excess {_money(exposure.get('excess_cny') or 0)} CNY",
                           "bad" if exposure["over_limit"] else "good"))
    if aging:
        cards.append(_card("Open receivables (CNY)", _money(aging["total"]),
                           f"overdue {_money(aging['overdue'])} ({_pct(aging['overdue_share'])})",
                           "bad" if (aging["overdue_share"] or 0) > 0.2 else ""))
    if dso:
        latest = dso["latest"]
        cards.append(_card("DSO (days)", _number(latest.get("dso_simple"), 1),
                           f"best possible {_number(latest.get('best_possible_dso'), 1)} · "
                           f"as of {latest['as_of_date']}"))
        cards.append(_card("CEI", _pct_points(latest.get("collection_effectiveness_index")),
                           f"ADD {_number(latest.get('average_days_delinquent'), 1)} days"))
    if alerts:
        cards.append(_card("Alerts open", str(alerts["open"]),
                           f"{alerts['new']} new · {alerts['resolved_today']} resolved today",
                           "bad" if alerts["by_severity"].get("critical", {}).get("open") else ""))
    if quality:
        bad = quality["checks_failed"] or quality["files_failed"]
        cards.append(_card("Quality checks", f"{quality['checks_run'] - quality['checks_failed']}/"
                                             f"{quality['checks_run']} passed",
                           f"{quality['rows_quarantined']} rows quarantined · {quality['files_failed']} files failed",
                           "bad" if bad else "good"))
    return f'<div class="kpis">{"".join(cards)}</div>' if cards else ""


def _risk(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("exposure_by_risk")
    if not section:
        return _empty("risk", "Exposure by risk", data.notes.get("exposure"))
    total = sum(row["exposure_cny"] or 0.0 for row in section["rows"]) or None
    if section["by"] == "grade":
        title = "Exposure by rating grade"
        caption = (f"Grades of model {section['model_version']} scored on {section['score_date']}; "
                   "amounts in CNY.")
        rows = [[_cell(row["label"]), _cell(row.get("grade_label") or ""), _num(row["customers"]),
                 _num(_money(row["exposure_cny"])), _num(_pct((row["exposure_cny"] or 0) / total if total else None))]
                for row in section["rows"]]
        head = ["grade", "", "customers", "exposure CNY", "share"]
    else:
        title = "Exposure by limit utilisation"
        caption = ("No rating grades yet (no PD model has scored): customers grouped by exposure ÷ credit limit; "
                   f"'{NO_LIMIT_BAND}' = no or zero limit. Amounts in CNY.")
        rows = [[_cell(row["label"]), _num(row["customers"]), _num(_money(row["exposure_cny"])),
                 _num(_pct((row["exposure_cny"] or 0) / total if total else None))] for row in section["rows"]]
        head = ["utilisation", "customers", "exposure CNY", "share"]
    return _section("risk", title, _chart(svgs, "exposure-by-risk", caption), _table(head, rows))


def _aging(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("aging")
    if not section:
        return _empty("aging", "Receivables aging", data.notes.get("aging"))
    total = section["total"] or None
    rows = [[_cell(b["bucket"]), _num(b["open_items"]), _num(_money(b["open_amount"])),
             _num(_pct(b["open_amount"] / total if total else None))] for b in section["buckets"]]
    rows.append([_cell("<strong>total</strong>", raw=True), _num(sum(b["open_items"] for b in section["buckets"])),
                 _num(_money(section["total"])), _num("100%")])
    caption = (f"Open items as of {data.as_of_date} by days past due (from the due date), in CNY; "
               f"source {section['source']}.")
    return _section("aging", "Receivables aging", _chart(svgs, "aging-waterfall", caption),
                    _table(["bucket", "items", "open CNY", "share"], rows))


def _dso(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("dso_cei")
    if not section:
        return _empty("dso", "DSO and CEI", data.notes.get("dso_cei"))
    rows = [[_cell(str(p["as_of_date"]) + ("" if p.get("is_month_end") else " *")),
             _num(_number(p.get("dso_simple"), 1)), _num(_number(p.get("dso_count_back"), 1)),
             _num(_number(p.get("best_possible_dso"), 1)), _num(_number(p.get("average_days_delinquent"), 1)),
             _num(_pct_points(p.get("collection_effectiveness_index"))), _num(_money(p.get("open_receivables")))]
            for p in reversed(section["points"])]
    caption = ("Portfolio DSO (simple and count-back), best-possible DSO and CEI at month-ends and the latest "
               "date (*). CEI below 80% (dotted line) deserves a look.")
    return _section("dso", "DSO and CEI trend", _chart(svgs, "dso-cei-trend", caption),
                    _table(["date", "DSO", "count-back", "best", "ADD", "CEI", "open AR CNY"], rows))


def _top(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("exposure")
    if not section:
        return _empty("top", "Top exposures", data.notes.get("exposure"))
    rows, classes = [], []
    for number, row in enumerate(section["top"], start=1):
        rows.append([_num(number), _cell(row["customer_id"]), _cell(row.get("customer_name") or "", css="name"),
                     _cell(row["currency"]), _num(_money(row["exposure"])), _num(_money(row["credit_limit"])),
                     _num(_pct(row.get("utilisation"))), _num(_money(row.get("headroom"))),
                     _num(_money(row.get("overdue_amount")))])
        classes.append("over" if row.get("is_over_limit") else "")
    unconverted = section.get("unconverted") or 0
    caption = ("Largest exposures in CNY at the rate known on the date (table: the customer's own currency); "
               "red: over the limit.")
    if unconverted:
        caption += f" {unconverted} customer(s) in a currency with no known rate are left out of CNY totals."
    table = f"<h3>Top {len(rows)} in the customer's currency</h3>" + _table(
        ["#", "customer", "name", "ccy", "exposure", "limit", "util.", "headroom", "overdue"], rows, classes)
    return _section("top", f"Top {len(section['top'])} exposures against limits",
                    _chart(svgs, "top-exposures", caption), _over_limit(section), table)


def _alerts(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("alerts")
    if not section:
        return _empty("alerts", "Alerts", data.notes.get("alerts"))
    rows = [[_cell(f'<span class="sev sev-{escape(r["severity"])}">{escape(r["severity"])}</span>', raw=True),
             _cell(r["customer_id"]), _cell(r.get("customer_name") or "", css="name"),
             _cell(f"{r['rule_id']} v{r['rule_version']}"), _cell(r.get("rule_description") or "", css="wrap"),
             _cell(str(r["raised_on"]) + (" (new)" if r["is_new"] else "")), _num(r["days_open"]),
             _cell(r["status"] if r["status"] != "resolved" else "resolved later")]
            for r in section["rows"][:30]]
    shown = "" if len(section["rows"]) <= 30 else f" The 30 most severe of {len(section['rows'])} are listed."
    caption = (f"Alerts open at the end of {data.as_of_date} (raised by then, not resolved by then) and those "
               f"raised that day.{shown}")
    by_rule = _table(["rule", "open"], [[_cell(rule), _num(count)] for rule, count in section["by_rule"].items()])
    table = "<h3>Alerts open on the date</h3>" + _table(
        ["severity", "customer", "name", "rule", "condition", "raised", "days", "status"], rows)
    if not section["open"]:
        return _section("alerts", "New and open alerts", f'<p class="note">No alert open on {data.as_of_date}.</p>')
    return _section("alerts", "New and open alerts", _chart(svgs, "alerts", caption),
                    "<h3>Open alerts per rule</h3>" + by_rule, table)


def _worklist(data: ReportData) -> str:
    section, proposals = data.section("worklist"), data.section("limit_proposals")
    if not section and not proposals:
        return _empty("worklist", "Collections worklist", data.notes.get("worklist"))
    parts = []
    if section:
        rows = [[_num(r["rank"]), _cell(r["customer_id"]), _cell(r.get("customer_name") or "", css="name"),
                 _cell(r.get("currency") or ""), _num(_money(r.get("overdue_amount"))), _num(r["max_dpd"]),
                 _cell(r["dunning_level"]), _num(_money(r.get("expected_loss")))] for r in section["rows"]]
        parts.append(f'<p class="note">{section["customers"]} customers on the worklist; the first '
                     f"{len(rows)} by expected loss, then days past due.</p>")
        parts.append(_table(["#", "customer", "name", "ccy", "overdue", "max DPD", "dunning", "exp. loss"], rows))
    if proposals:
        parts.append(f'<p class="note">Credit-limit proposals today: {proposals["increases"]} increases, '
                     f'{proposals["decreases"]} decreases, {proposals["unchanged"]} unchanged.</p>')
    return _section("worklist", "Collections worklist (top 10)", "".join(parts))


def _pd(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("scores")
    if not section:
        return _empty("pd", "PD distribution and model stability",
                      data.notes.get("scores", "no PD model scores yet") + " — the report shows exposure by "
                      "utilisation band until a model scores.")
    psi_rows = [[_cell(r["feature"]), _num(_number(r.get("value"), 3)),
                 _cell(f'<span class="status status-{escape(r.get("status") or "unknown")}">'
                       f'{escape(r.get("status") or "unknown")}</span>', raw=True)] for r in section["psi"]]
    caption = (f"Model {section['model_version']} scored on {section['score_date']}: {section.get('customers')} "
               f"customers, median PD {_pct(section.get('median_pd'), 2)}, {section.get('in_default') or 0} "
               "in default.")
    charts = _chart(svgs, "pd-distribution", caption)
    if "psi" in svgs:
        charts += _chart(svgs, "psi", "PSI of each feature and of the score against the training sample.")
    else:
        charts += f'<p class="note">{escape(data.notes.get("psi", "no PSI recorded"))}</p>'
    table = _table(["feature", "PSI", "status"], psi_rows) if psi_rows else ""
    return _section("pd", "PD distribution and model stability", charts, table)


def _dq(data: ReportData, svgs: dict[str, str]) -> str:
    section = data.section("data_quality")
    if not section:
        return _empty("dq", "Data quality", data.notes.get("data_quality"))
    stages = " · ".join(
        f'{escape(s["stage"])} <span class="status status-{escape(s["status"])}">{escape(s["status"])}</span>'
        for s in section["stages"])
    summary = (f'<p class="note">Run <code>{escape(str(section["run_id"]))}</code>'
               f'{": " + stages if stages else ""}</p>'
               f'<p>{_count(section["checks_run"], "check")} in {_count(section["suites_run"], "suite")}: '
               f'{section["checks_failed"]} failed, in {_count(section["suites_failed"], "suite")} '
               f'({section["blocking_failed"]} blocking). {_count(section["rows_quarantined"], "row")} quarantined; '
               f'{_count(section["files_failed"], "file")} failed to load.</p>')
    sources = _table(
        ["source", "files loaded", "failed", "skipped", "rows read", "loaded", "quarantined"],
        [[_cell(s["source"]), _num(s["files_loaded"]), _num(s["files_failed"]), _num(s["files_skipped"]),
          _num(s["rows_read"]), _num(s["rows_loaded"]), _num(s["rows_quarantined"])] for s in section["sources"]])
    suites = sorted(section["suites"], key=lambda s: (s["success"], not s["blocking"], s["suite_name"]))
    failing = [s for s in suites if not s["success"]]
    suite_table = _suites_table(failing) if failing else '<p class="note">Every suite passed.</p>'
    if len(suites) > len(failing):
        suite_table += (f"<details><summary>All {len(suites)} suites</summary>{_suites_table(suites)}</details>")
    reasons = ""
    if section["reasons"]:
        reasons = "<h3>Quarantine reasons</h3>" + _table(
            ["source", "feed", "field", "reason", "rows"],
            [[_cell(r["source"]), _cell(r["feed"]), _cell(r["field"]), _cell(r["reason"], css="wrap"),
              _num(r["rows"])] for r in section["reasons"]])
    chart = _chart(svgs, "quarantine", "Rows set aside by row validation, per source, in this run's loads.")
    return _section("dq", "Data quality", summary + chart, "<h3>Loads per source</h3>" + sources + reasons,
                    "<h3>Failed quality suites</h3>" + suite_table)


def _suites_table(suites: list[dict[str, Any]]) -> str:
    return _table(
        ["suite", "table", "blocking", "checks", "failed", "result"],
        [[_cell(s["suite_name"]), _cell(s["table_name"]), _cell("yes" if s["blocking"] else "no"),
          _num(s["evaluated"]), _num(s["failed"]),
          _cell(f'<span class="status status-{"success" if s["success"] else "failed"}">'
                f'{"passed" if s["success"] else "failed"}</span>', raw=True)] for s in suites])


def _over_limit(section: dict[str, Any]) -> str:
    """Beside the chart: the portfolio's limit use in a few lines."""
    over = section.get("over_limit_rows") or []
    lines = [f"<p>{section['over_limit']} of {section['customers']} customers over their limit"
             f"{'' if not section.get('excess_cny') else ', ' + _money(section['excess_cny']) + ' CNY above it'}.</p>"]
    if over:
        shown = "" if len(over) == section["over_limit"] else f" (the {len(over)} furthest over)"
        lines.append(f"<h3>Customers over their limit{shown}</h3>" + _table(
            ["customer", "name", "ccy", "exposure", "limit", "util."],
            [[_cell(r["customer_id"]), _cell(r.get("customer_name") or "", css="name"), _cell(r["currency"]),
              _num(_money(r["exposure"])), _num(_money(r["credit_limit"])), _num(_pct(r["utilisation"]))]
             for r in over]))
    currencies = section.get("currencies") or []
    if len(currencies) > 1:
        lines.append("<h3>Exposure by currency</h3>" + _table(
            ["ccy", "customers", "exposure"],
            [[_cell(c["currency"] + (" (no rate)" if c["no_rate"] else "")), _num(c["customers"]),
              _num(_money(c["exposure"]))] for c in currencies]))
    return "".join(lines)


def _footer(data: ReportData) -> str:
    terms = (
        ("Exposure", "open receivables + open orders not yet invoiced − unapplied cash; utilisation = exposure ÷ "
                     "limit."),
        ("Aging", "days past due from the due date: current, 1–30, 31–60, 61–90, 91–180, 180+."),
        ("DSO / CEI", "DSO = AR ÷ credit sales × days; CEI = (opening AR + sales − closing AR) ÷ (opening AR + "
                      "sales − closing current AR) × 100."),
        ("PSI", "Σ (actual − expected) · ln(actual ÷ expected) over bins: < 0.1 stable, 0.1–0.25 watch, "
                "> 0.25 shifted."),
    )
    items = "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in terms)
    return (f"<footer><dl>{items}</dl><p>Definitions: docs/domain.md. Built by credit-dw from the published "
            f"marts for {escape(data.as_of_date.isoformat())}; no personal data.</p></footer>")


# ----------------------------------------------------------------------------------------------- helpers

def _section(key: str, title: str, left: str, right: str = "", below: str = "") -> str:
    """Two columns (one on a phone), then what is too wide for a column (long tables) across."""
    body = f'<div class="grid"><div>{left}</div><div>{right}</div></div>' if right else left
    return f'<section id="{key}"><h2>{escape(title)}</h2>{body}{below}</section>'


def _empty(key: str, title: str, note: str | None) -> str:
    return _section(key, title, f'<p class="note">{escape(note or "no data for this date")}</p>')


def _chart(svgs: dict[str, str], key: str, caption: str) -> str:
    if key not in svgs:
        return ""
    return f'<figure class="chart" id="chart-{key}">{svgs[key]}<figcaption>{escape(caption)}</figcaption></figure>'


def _card(label: str, value: str, sub: str = "", tone: str = "") -> str:
    return (f'<div class="kpi {tone}"><div class="label">{escape(label)}</div><div class="value">{escape(value)}'
            f'</div><div class="sub">{escape(sub)}</div></div>')


def _cell(value: Any, *, raw: bool = False, css: str = "") -> str:
    text = str(value) if raw else escape("" if value is None else str(value))
    return f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>"


def _num(value: Any) -> str:
    return f'<td class="num">{escape("" if value is None else str(value))}</td>'


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    if not rows:
        return ""
    numeric = {i for i, cell in enumerate(rows[0]) if cell.startswith('<td class="num"')}
    header = "".join(f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                     for i, h in enumerate(head))
    body = "".join(
        (f'<tr class="{classes[i]}">' if classes and classes[i] else "<tr>") + "".join(row) + "</tr>"
        for i, row in enumerate(rows))
    return f'<div class="table-wrap"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _money(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f}"


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}%}"


def _pct_points(value: float | None) -> str:
    """A value already in percent (CEI)."""
    return "–" if value is None else f"{value:.1f}%"
