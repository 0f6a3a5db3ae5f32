"""The nightly credit-risk report: built from a small warehouse laid out as the published tables
are, rendered in headless Chromium at a phone's and a desktop's width.

The warehouse is written by hand (a few seconds instead of a sandbox, ingestion and dbt build): the
marts' published columns the report reads, the scoring, quality, manifest and run tables with the
DDL of the modules that own them. tests/test_analyst_docs.py builds the report once more on a real
dbt build.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import date, timedelta
from html import escape, unescape
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from reporting import build_report
from reporting.pdf import chromium_command, find_chromium

AS_OF = date(2026, 9, 30)
CHROMIUM = Path("/usr/bin/chromium")
CHARTS = {"exposure-by-risk", "aging-waterfall", "dso-cei-trend", "top-exposures", "alerts", "pd-distribution", "psi",
          "quarantine"}
NAMES = ["成都丰越贸易有限责任公司", "北京凯宝工贸有限公司", "南京宝启光电有限责任公司", "郑州隆安精密仪器有限公司",
         "武汉安锦机械设备有限公司", "泰启包装材料（济南）有限公司", "上海康宝纺织有限公司",
         "Merlion Trading Pte. Ltd.", "苏州光富化工有限责任公司", "广州凯宝集团有限公司", "杭州德立物流有限公司",
         "深圳安光环保科技有限公司"]
SECRET_HASH = "9f2c" * 16  # a blind index the report must never show
RULES = ("limit_breach", "days_past_due", "bureau_adverse_event")


def _customers() -> list[dict]:
    rows = []
    for number in range(24):
        limit = 200_000 + 150_000 * (number % 7)
        utilisation = [0.35, 0.62, 0.85, 0.97, 1.08, 1.31, 0.12, 0.55][number % 8]
        rows.append({
            "customer_id": f"KH{number + 1:06d}", "customer_name": NAMES[number % len(NAMES)],
            "currency": "USD" if number == 7 else "CNY", "credit_limit": limit,
            "exposure": round(limit * utilisation, 2), "overdue": round(limit * utilisation * 0.1 * (number % 3), 2),
        })
    return rows


def populate(url: str) -> None:
    """Tables as the nightly run leaves them for AS_OF."""
    from credit_dw.pipeline import PUBLICATIONS_DDL, STAGES_DDL
    from expectations.validate import RESULTS_DDL
    from ingestion.load import MANIFEST_DDL
    from scoring.alerts import ALERTS_DDL
    from scoring.limits import LIMITS_DDL
    from scoring.worklist import WORKLIST_DDL

    customers = _customers()
    with psycopg.connect(url) as conn:
        for ddl in (PUBLICATIONS_DDL, STAGES_DDL, RESULTS_DDL, MANIFEST_DDL, ALERTS_DDL, LIMITS_DDL, WORKLIST_DDL):
            conn.execute(ddl)
        conn.execute("""
            create schema marts; create schema intermediate;
            create table marts.fct_credit_exposure_daily (
                as_of_date date, customer_id text, customer_name text, currency text, open_receivables numeric(18, 2),
                open_invoice_count integer, overdue_amount numeric(18, 2), open_orders numeric(18, 2),
                unapplied_cash numeric(18, 2), exposure numeric(18, 2), credit_limit numeric(18, 2),
                utilisation numeric(12, 4), headroom numeric(18, 2), is_over_limit boolean);
            create table marts.dim_customers (customer_id text, customer_name text, uscc_hash text);
            create table intermediate.int_fx_rates_known (
                currency text, rate_date date, cny_per_unit numeric(18, 8), known_from_date date, known_to_date date);
            create table marts.portfolio_aging_by_segment (
                as_of_date date, is_month_end boolean, segment text, aging_bucket text, aging_bucket_order integer,
                currency text, open_amount numeric(18, 2), open_item_count bigint, customer_count bigint,
                share_of_segment_open_amount numeric);
            create table marts.portfolio_dso_cei_trend (
                as_of_date date, is_month_end boolean, period_start_date date, period_days integer, currency text,
                open_receivables numeric(18, 2), current_receivables numeric(18, 2),
                opening_receivables numeric(18, 2), credit_sales numeric(18, 2), customers_with_receivables bigint,
                dso_simple numeric(10, 2), dso_count_back numeric(10, 2), best_possible_dso numeric(10, 2),
                average_days_delinquent numeric(10, 2), collection_effectiveness_index numeric(10, 2));
        """)
        for day in (AS_OF - timedelta(days=1), AS_OF):
            for c in customers:
                exposure = c["exposure"] * (0.97 if day < AS_OF else 1)
                conn.execute(
                    """insert into marts.fct_credit_exposure_daily values
                       (%s, %s, %s, %s, %s, 3, %s, 0, 0, %s, %s, round(%s::numeric / %s, 4), %s - %s, %s > %s)""",
                    (day, c["customer_id"], c["customer_name"], c["currency"], exposure, c["overdue"], exposure,
                     c["credit_limit"], exposure, c["credit_limit"], c["credit_limit"], exposure, exposure,
                     c["credit_limit"]))
        conn.execute("insert into marts.dim_customers values ('KH000001', %s, %s)", (NAMES[0], SECRET_HASH))
        conn.execute("insert into intermediate.int_fx_rates_known values ('USD', %s, 7.1, %s, null)",
                     (AS_OF - timedelta(days=3), AS_OF - timedelta(days=3)))
        amounts = {"current": 5_100_000, "1-30": 820_000, "31-60": 310_000, "61-90": 120_000, "91-180": 64_000,
                   "180+": 23_000}
        for order, (bucket, total) in enumerate(amounts.items()):
            for segment, share in (("制造业", 0.6), ("批发和零售业", 0.4)):
                conn.execute(
                    """insert into marts.portfolio_aging_by_segment values
                       (%s, true, %s, %s, %s, 'CNY', %s, %s, %s, %s)""",
                    (AS_OF, segment, bucket, order, total * share, 10 - order, 5, share))
        month_ends = [date(2026, month, 1) - timedelta(days=1) for month in range(4, 11)]
        for number, day in enumerate(month_ends):
            conn.execute(
                """insert into marts.portfolio_dso_cei_trend values
                   (%s, true, %s, 92, 'CNY', 6400000, 5100000, 6000000, 9800000, 21, %s, %s, %s, %s, %s)""",
                (day, day - timedelta(days=91), 48 + number * 1.5, 47 + number * 1.3, 41 + number * 0.4,
                 7 + number * 1.1, 91 - number * 2.4))
        severities = ["critical", "high", "high", "medium", "medium", "medium", "low"]
        for number, severity in enumerate(severities):
            raised = AS_OF - timedelta(days=number % 3 * 4)
            conn.execute(
                """insert into scoring.alerts (customer_id, rule_id, rule_version, rule_set, rule_set_version,
                       content_hash, severity, evidence, raised_on, last_seen_on)
                   values (%s, %s, 1, 'credit_policy', '2026.10.1', %s, %s, %s, %s, %s)""",
                (customers[number]["customer_id"], RULES[number % 3], "ab" * 32, severity,
                 json.dumps({"rule": "Exposure above the credit limit.", "payer": "张三"}),
                 raised, AS_OF))
        conn.execute(
            """insert into scoring.alerts (customer_id, rule_id, rule_version, rule_set, rule_set_version, content_hash,
                   severity, evidence, raised_on, last_seen_on, status, resolved_by, resolved_on, resolved_at)
               values ('KH000020', 'limit_breach', 1, 'p', '1', 'x', 'high', '{}', %s, %s, 'resolved', 'system', %s,
                       now())""", (AS_OF - timedelta(days=20), AS_OF - timedelta(days=12), AS_OF - timedelta(days=12)))
        for rank, c in enumerate(customers[:12], start=1):
            conn.execute(
                """insert into scoring.collections_worklist (as_of_date, rank, customer_id, owner_id, currency,
                       overdue_amount, max_dpd, dunning_level, exposure, credit_limit, ead, pd, pd_source, lgd, ccf,
                       expected_loss, rule_set, rule_set_version, content_hash)
                   values (%s, %s, %s, 'E1', %s, %s, %s, 'reminder', %s, %s, %s, 0.05, 'model', 0.45, 0.5, %s,
                           'credit_policy', '1', 'x')""",
                (AS_OF, rank, c["customer_id"], c["currency"], c["overdue"], 40 - rank, c["exposure"],
                 c["credit_limit"], c["exposure"], 10_000 - rank * 500))
        _scores(conn, customers)
        run = f"nightly-{AS_OF}"
        for stage, status in (("ingest", "success"), ("quality_gate", "success"), ("transform", "success"),
                              ("publish", "success"), ("score", "success")):
            conn.execute("""insert into ops.stage_runs (run_id, business_date, stage, status, seconds)
                            values (%s, %s, %s, %s, 1.5)""", (run, AS_OF, stage, status))
        conn.execute("insert into ops.publications (run_id, business_date, tables) values (%s, %s, '{}')", (run, AS_OF))
        for suite, blocking, success, evaluated, failed in (
                ("raw_erp_invoices", True, True, 13, 0), ("raw_erp_invoices_warnings", False, False, 2, 1),
                ("raw_bank_statement_entries", True, True, 14, 0), ("marts_exposure", True, True, 9, 0)):
            conn.execute(
                """insert into dq.validation_results (run_id, suite_name, table_name, blocking, success, evaluated,
                       failed, failures, result) values (%s, %s, %s, %s, %s, %s, %s, '[]', '{}')""",
                (run, suite, "raw." + suite.removeprefix("raw_").removesuffix("_warnings"), blocking, success,
                 evaluated, failed))
        for number, (source, feed, read, quarantined) in enumerate((
                ("erp", "erp_invoices", 420, 3), ("erp", "erp_payments", 260, 0), ("bank", "camt053", 190, 2),
                ("crm", "crm_contacts", 40, 1), ("bureau", "bureau_events", 25, 0))):
            batch = conn.execute(
                """insert into raw.load_manifest (run_id, source, feed, format, business_date, path, extract, delivery,
                       size_bytes, sha256, status, rows_read, rows_loaded, rows_quarantined)
                   values (%s, %s, %s, 'csv', %s, %s, %s, 1, 100, %s, 'loaded', %s, %s, %s) returning batch_id""",
                (run, source, feed, AS_OF, f"/landing/{source}/{feed}.csv", f"{source}/{feed}", f"{number:064d}",
                 read, read - quarantined, quarantined)).fetchone()[0]
            for line in range(quarantined):
                conn.execute(
                    """insert into raw.quarantine (batch_id, feed, source_file, source_line, field, reason,
                           original_text) values (%s, %s, 'f.csv', %s, 'mobile', %s, %s)""",
                    (batch, feed, line + 2, "not a mobile number: '13912345678'", "张三,13912345678"))


def _scores(conn, customers: list[dict]) -> None:
    """The PD model's tables, with the registry module's DDL when it is there."""
    try:
        from scoring.model.registry import MODEL_DDL
    except ImportError:  # the model package is optional for the report
        MODEL_DDL = """create table scoring.model_registry (model_version text primary key, status text);
            create table scoring.customer_scores (as_of_date date, customer_id text, model_version text,
                is_shadow boolean, pd double precision, grade integer, points numeric, reason_codes jsonb,
                is_in_default boolean);
            create table scoring.model_monitoring (as_of_date date, model_version text, metric text, feature text,
                value double precision, status text, details jsonb)"""
    conn.execute(MODEL_DDL)
    columns = {name for (name,) in conn.execute(
        "select column_name from information_schema.columns where table_schema = 'scoring' "
        "and table_name = 'model_registry'")}
    required = {"model_version": "'scorecard-1'", "status": "'active'", "model_type": "'scorecard'",
                "features": "'[]'", "metrics": "'{}'", "artifact_sha256": "'x'", "artifact_path": "'x'"}
    present = {k: v for k, v in required.items() if k in columns}
    conn.execute(f"insert into scoring.model_registry ({', '.join(present)}) values ({', '.join(present.values())})")
    conn.execute("create table if not exists scoring.rating_master_scale (grade integer, grade_label text)")
    conn.execute("""insert into scoring.rating_master_scale values (1, 'minimal'), (2, 'very low'), (3, 'low'),
                    (4, 'modest'), (5, 'moderate'), (6, 'elevated'), (7, 'high'), (8, 'very high'), (9, 'severe'),
                    (10, 'critical')""")
    grades = [2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 7, 7, 8, 9, 10, 3, 4, 5, 6, 4, 5]
    for customer, grade in zip(customers, grades, strict=True):
        conn.execute(
            """insert into scoring.customer_scores (as_of_date, customer_id, model_version, is_shadow, pd, grade,
                   points, reason_codes, is_in_default) values (%s, %s, 'scorecard-1', false, %s, %s, 500, '[]', %s)""",
            (AS_OF, customer["customer_id"], min(0.0008 * 2 ** grade, 0.99), grade, grade == 10))
    for feature, value, status in (("(score)", 0.041, "stable"), ("max_days_past_due_12m", 0.18, "watch"),
                                   ("utilisation", 0.31, "shifted"), ("dso_simple", 0.02, "stable"),
                                   ("average_days_beyond_terms_12m", 0.07, "stable")):
        conn.execute(
            """insert into scoring.model_monitoring (as_of_date, model_version, metric, feature, value, status)
               values (%s, 'scorecard-1', 'psi', %s, %s, %s)""", (AS_OF, feature, value, status))


@pytest.fixture(scope="module")
def report_database(warehouse_url):
    """A database of this module's own (as fresh_database_url, once for the module), populated."""
    server = make_url(warehouse_url)
    name = f"{server.database}_report_{uuid.uuid4().hex[:6]}"  # one per xdist worker
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = server.set(database=name).render_as_string(hide_password=False)
    populate(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def report(report_database, tmp_path_factory) -> dict:
    """The report, its PDF printed by Chromium when there is one (the fallback is tested below)."""
    return build_report(AS_OF, database_url=report_database, out_dir=tmp_path_factory.mktemp("report"))


def test_the_report_has_every_section_and_nothing_personal(report):
    html = Path(report["html"]).read_text(encoding="utf-8")
    assert report["complete"], report["notes"]
    assert json.loads(json.dumps(report)) == report  # an XCom value as it is
    assert set(report["charts"]) == CHARTS
    summary = report["summary"]
    assert summary["customers"] == 24 and summary["exposure_by"] == "grade" and summary["pd_model"] == "scorecard-1"
    assert summary["alerts_open"] == 7 and summary["psi_shifted"] == ["utilisation"]
    assert summary["rows_quarantined"] == 6 and summary["checks_failed"] == 1
    # USD converted at the rate known on the date
    usd = 7.1 * _customers()[7]["exposure"]
    assert summary["exposure_cny"] == pytest.approx(sum(c["exposure"] for c in _customers()) + usd
                                                    - _customers()[7]["exposure"], abs=0.05)
    for name in ("成都丰越贸易有限责任公司", "泰启包装材料（济南）有限公司", "Merlion Trading Pte. Ltd."):
        assert name in html
    assert 'name="viewport"' in html and "Noto Sans CJK SC" in html and "Microsoft YaHei" in html
    # offline: nothing fetched, no script
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert reference.startswith("#"), reference
    # no personal data: no hash, no evidence detail, no quarantined line or value
    for secret in (SECRET_HASH, "ab" * 32, "张三", "13912345678"):
        assert secret not in html
    assert "not a mobile number" in html
    assert not re.search(r"\b[0-9a-f]{64}\b", html)
    assert Path(report["pdf"]).read_bytes().startswith(b"%PDF-")
    assert report["pdf_engine"] == ("chromium" if find_chromium() else "matplotlib")


def test_the_report_degrades_without_model_and_marts(report_database, tmp_path):
    """Before the PD model and the portfolio marts exist: exposure by utilisation band, notes, no failure;
    the PDF from matplotlib (no browser needed)."""
    hidden = ("scoring.customer_scores", "scoring.model_monitoring", "marts.portfolio_dso_cei_trend")
    with psycopg.connect(report_database) as conn:
        for table in hidden:
            conn.execute(f"alter table {table} rename to {table.split('.')[1]}_hidden")
    try:
        result = build_report(AS_OF, database_url=report_database, out_dir=tmp_path, pdf="matplotlib")
        empty = build_report(AS_OF + timedelta(days=5), database_url=report_database, out_dir=tmp_path / "later",
                             pdf=None)
    finally:
        with psycopg.connect(report_database) as conn:
            for table in hidden:
                schema, name = table.split(".")
                conn.execute(f"alter table {schema}.{name}_hidden rename to {name}")
    assert result["summary"]["exposure_by"] == "utilisation"
    assert {"pd-distribution", "psi", "dso-cei-trend"}.isdisjoint(result["charts"])
    assert "scores" in result["notes"] and "dso_cei" in result["notes"] and result["complete"]
    assert result["pdf_engine"] == "matplotlib" and Path(result["pdf"]).read_bytes().startswith(b"%PDF-")
    html = Path(result["html"]).read_text(encoding="utf-8")
    assert "Exposure by limit utilisation" in html and "no PD model yet" in html
    assert not empty["complete"] and "no exposure rows" in empty["notes"]["exposure"] and empty["pdf"] is None


def test_the_cli_writes_the_report(report_database, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from credit_dw.commands.report import app

    monkeypatch.setenv("CREDIT_DW_DATABASE_URL", report_database)
    from credit_dw.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["--date", AS_OF.isoformat(), "--out", str(tmp_path / "cli"), "--no-pdf",
                                          "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["html"] == str(tmp_path / "cli" / "credit_report.html")
    assert Path(printed["html"]).exists() and printed["pdf"] is None


PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="phone" style="width:390px;height:844px;border:0" srcdoc="SRCDOC"></iframe><textarea id="dom"></textarea>
<script>
const frame = document.getElementById("phone");
function measure() {
  const page = frame.contentDocument, data = document.body.dataset;
  data.innerWidth = frame.contentWindow.innerWidth;
  data.scrollWidth = page.documentElement.scrollWidth;
  const svgs = [...page.querySelectorAll("svg[data-chart]")];
  data.svgWidths = svgs.map(svg => Math.round(svg.getBoundingClientRect().width)).join(",");
  data.overflowingText = svgs.flatMap(svg => {
    const box = svg.getBoundingClientRect();
    return [...svg.querySelectorAll("text")].filter(text => {
      const r = text.getBoundingClientRect();
      return r.width && (r.left < box.left - 1 || r.right > box.right + 1);
    }).map(text => svg.dataset.chart + ": " + text.textContent.trim());
  }).join(" | ");
  document.getElementById("dom").textContent = page.documentElement.outerHTML;
}
if (frame.contentDocument && frame.contentDocument.readyState === "complete" && frame.contentDocument.body
    && frame.contentDocument.body.childElementCount) { measure(); } else { frame.addEventListener("load", measure); }
</script></body></html>"""


def _chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(chromium_command(str(CHROMIUM), profile, "--disable-features=Translate", *arguments),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless rendering needs Debian's chromium at /usr/bin/chromium "
                                                   "(apt-get install chromium)")
def test_chromium_draws_the_charts_on_a_phone_and_a_desktop(report, tmp_path):
    import numpy as np
    from PIL import Image

    html = Path(report["html"])
    # The DOM as Chromium built it, and its layout at a phone's width measured inside the page. Headless
    # windows are at least 500 px wide, so the page goes into a 390 px iframe (srcdoc: same origin, so the
    # probe's script reads it) and the script copies what it found into the DOM --dump-dom prints.
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.replace("SRCDOC", escape(html.read_text(encoding="utf-8"), quote=True)), encoding="utf-8")
    dumped = _chromium(tmp_path / "profile", "--dump-dom", probe.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = dict(re.findall(r'data-(inner-width|scroll-width|svg-widths|overflowing-text)="([^"]*)"', dumped.stdout))
    dom = unescape(re.search(r'<textarea id="dom">(.*?)</textarea>', dumped.stdout, flags=re.S).group(1))

    svgs = re.findall(r'<svg [^>]*data-chart="([^"]+)"[^>]*>(.*?)</svg>', dom, flags=re.S)
    assert {key for key, _ in svgs} == CHARTS
    for key, body in svgs:
        paths = re.findall(r'<path [^>]*\bd="([^"]+)"', body)
        assert len(paths) >= 3 and all(d.strip() for d in paths), key
        assert re.search(r"<text\b", body), key
    assert "成都丰越贸易有限责任公司" in dom

    assert found.get("inner-width") == "390", dumped.stdout[-500:]
    assert int(found["scroll-width"]) <= 390, "the page is wider than the phone: something does not shrink or scroll"
    widths = [int(w) for w in found["svg-widths"].split(",")]
    assert len(widths) == len(CHARTS) and all(320 <= w <= 390 for w in widths), widths
    assert found["overflowing-text"] == "", f"chart text outside its chart: {found['overflowing-text']}"

    for name, size in (("phone", "390,844"), ("desktop", "1280,900")):
        png = tmp_path / f"{name}.png"
        shot = _chromium(tmp_path / f"profile-{name}", f"--window-size={size}", f"--screenshot={png}", html.as_uri())
        assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
        pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
        assert pixels.shape[:2] == tuple(int(v) for v in reversed(size.split(",")))
        colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
        assert colours > 200, f"{name}: the screenshot looks blank ({colours} colours)"
        background = np.isin(pixels.reshape(-1, 3) @ [65536, 256, 1], [0xFFFFFF, 0xF1F5F9]).mean()
        assert background < 0.97, f"{name}: the screenshot is nearly all background"
        # chart bars are the only large saturated areas on the first screen (text is black or grey)
        saturated = (pixels.max(axis=2) - pixels.min(axis=2) > 90).mean()
        assert saturated > 0.01, f"{name}: no chart drawn on the first screen ({saturated:.2%} coloured pixels)"
