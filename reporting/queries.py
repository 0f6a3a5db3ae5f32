"""What the nightly credit-risk report shows, read from the warehouse in one read-only snapshot.

Every section reads the published tables (``marts``, ``scoring``, ``dq``, ``raw.load_manifest``,
``ops``) for one business date and degrades on its own: a table that does not exist yet (the PD
model's, say) or a query that fails gives the section a note instead of failing the report.

Amounts are converted to CNY with the rate known on the business date
(``intermediate.int_fx_rates_known``, as the portfolio marts do); an amount whose currency has no
known rate is left out of CNY totals and counted in ``unconverted``. Nothing personal is read: no
``*_hash``, ``*_masked`` or ``*_encrypted`` column, no contact, payer, evidence detail or quarantined
line; quarantine reasons are cut to their kind (the text before the offending value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

log = logging.getLogger(__name__)

AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "180+")
SEVERITIES = ("critical", "high", "medium", "low")
# Utilisation bands used when no rating grades exist yet: (label, lower bound exclusive, upper inclusive),
# tried in order.
UTILISATION_BANDS = (
    ("≤ 50%", None, 0.5),
    ("50–80%", 0.5, 0.8),
    ("80–100%", 0.8, 1.0),
    ("100–120%", 1.0, 1.2),
    ("> 120%", 1.2, None),
)
NO_LIMIT_BAND = "no limit"
TOP_EXPOSURES = 20
TREND_POINTS = 13


@dataclass
class ReportData:
    as_of_date: date
    database: str = ""
    timezone: str = "Asia/Shanghai"
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it is empty or partial

    def section(self, key: str) -> dict[str, Any]:
        return self.sections.get(key) or {}


class _Reader:
    def __init__(self, conn: psycopg.Connection, as_of_date: date):
        self.conn = conn
        self.as_of_date = as_of_date
        self._fx_cte: str | None = None

    def exists(self, relation: str) -> bool:
        return self.conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]

    def columns(self, relation: str) -> set[str]:
        schema, table = relation.split(".")
        return {name for (name,) in self.conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, table))}

    def rows(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.conn.execute(query, {"d": self.as_of_date, **(params or {})})
        names = [column.name for column in cursor.description]
        return [{name: _plain(value) for name, value in zip(names, row, strict=True)} for row in cursor.fetchall()]

    def one(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        found = self.rows(query, params)
        return found[0] if found else None

    @property
    def fx(self) -> str:
        """A CTE body giving (currency, cny_per_unit) known on the business date."""
        if self._fx_cte is None:
            if self.exists("intermediate.int_fx_rates_known"):
                self._fx_cte = """select currency::text as currency, cny_per_unit
                                  from intermediate.int_fx_rates_known
                                  where known_from_date <= %(d)s and (known_to_date is null or known_to_date > %(d)s)"""
            else:
                self._fx_cte = "select null::text as currency, null::numeric as cny_per_unit where false"
        return self._fx_cte


def _plain(value: Any) -> Any:
    """Decimals as floats: the report formats numbers, it does not add money."""
    return float(value) if isinstance(value, Decimal) else value


def read_report_data(conn: psycopg.Connection, as_of_date: date, *, timezone: str = "Asia/Shanghai") -> ReportData:
    """Every section of the report for ``as_of_date``; ``conn`` should be in a read-only transaction."""
    reader = _Reader(conn, as_of_date)
    data = ReportData(as_of_date, database=conn.info.dbname, timezone=timezone)
    steps: list[tuple[str, Callable[[_Reader, ReportData], dict[str, Any] | None]]] = [
        ("publication", _publication),
        ("exposure", _exposure),
        ("scores", _scores),
        ("exposure_by_risk", _exposure_by_risk),
        ("aging", _aging),
        ("dso_cei", _dso_cei),
        ("alerts", _alerts),
        ("worklist", _worklist),
        ("limit_proposals", _limit_proposals),
        ("data_quality", _data_quality),
    ]
    for key, step in steps:
        try:
            with conn.transaction():  # a savepoint: one failing section leaves the others readable
                result = step(reader, data)
        except psycopg.Error as error:
            log.warning("report section %s unavailable: %s", key, error)
            data.notes[key] = f"could not be read: {str(error).strip().splitlines()[0]}"
            result = None
        if result is not None:
            data.sections[key] = result
    return data


# --------------------------------------------------------------------------------------------- sections

def _publication(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("ops.publications"):
        return None
    return reader.one(
        """select business_date, published_at, run_id from ops.publications
           order by published_at desc limit 1""")


def _exposure(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("marts.fct_credit_exposure_daily"):
        data.notes["exposure"] = "marts.fct_credit_exposure_daily does not exist yet"
        return None
    base = f"""
        with fx as ({reader.fx}),
        exposure as (
            select e.customer_id, e.customer_name, e.currency, e.exposure, e.credit_limit, e.utilisation,
                   e.headroom, coalesce(e.is_over_limit, false) as is_over_limit, e.open_receivables,
                   e.overdue_amount,
                   case when e.currency = 'CNY' then 1 else fx.cny_per_unit end as to_cny
            from marts.fct_credit_exposure_daily as e
            left join fx on fx.currency = e.currency
            where e.as_of_date = %(d)s
        )"""
    totals = reader.one(base + """
        select count(*) as customers,
               count(*) filter (where exposure > 0) as customers_with_exposure,
               count(*) filter (where is_over_limit) as over_limit,
               count(*) filter (where to_cny is null) as unconverted,
               sum(exposure * to_cny) as exposure_cny,
               sum(credit_limit * to_cny) as credit_limit_cny,
               sum(open_receivables * to_cny) as open_receivables_cny,
               sum(overdue_amount * to_cny) as overdue_cny,
               sum(greatest(exposure - credit_limit, 0) * to_cny) filter (where is_over_limit) as excess_cny
        from exposure""")
    if not totals or not totals["customers"]:
        latest = reader.one("select max(as_of_date) as latest from marts.fct_credit_exposure_daily")
        data.notes["exposure"] = (f"no exposure rows for {data.as_of_date} (latest: {latest and latest['latest']}); "
                                  "has the nightly run for this date published?")
        return None
    top = reader.rows(base + """
        select customer_id, customer_name, currency, exposure, credit_limit, utilisation, headroom, is_over_limit,
               overdue_amount, exposure * to_cny as exposure_cny, credit_limit * to_cny as credit_limit_cny
        from exposure
        order by exposure * to_cny desc nulls last, exposure desc, customer_id
        limit %(top)s""", {"top": TOP_EXPOSURES})
    # bands as parameters: their labels carry '%'
    band_params: dict[str, Any] = {"no_limit": NO_LIMIT_BAND}
    band_cases = []
    for number, (label, _low, high) in enumerate(UTILISATION_BANDS):
        band_params[f"band_{number}"] = label
        band_params[f"upper_{number}"] = high
        band_cases.append(f"when %(upper_{number})s::numeric is null or utilisation <= %(upper_{number})s "
                          f"then %(band_{number})s")
    bands = reader.rows(base + f"""
        select case when credit_limit is null or credit_limit <= 0 or utilisation is null then %(no_limit)s
                    {" ".join(band_cases)} end as band,
               count(*) as customers, sum(exposure * to_cny) as exposure_cny,
               sum(credit_limit * to_cny) as credit_limit_cny
        from exposure group by 1""", band_params)
    order = [label for label, _, _ in UTILISATION_BANDS] + [NO_LIMIT_BAND]
    by_band = {row["band"]: row for row in bands}
    totals["by_utilisation_band"] = [
        by_band.get(label, {"band": label, "customers": 0, "exposure_cny": 0.0, "credit_limit_cny": 0.0})
        for label in order]
    totals["top"] = top
    totals["over_limit_rows"] = reader.rows(base + """
        select customer_id, customer_name, currency, exposure, credit_limit, utilisation, headroom
        from exposure where is_over_limit
        order by utilisation desc nulls last, customer_id limit %(top)s""", {"top": TOP_EXPOSURES})
    totals["currencies"] = reader.rows(base + """
        select currency, count(*) as customers, sum(exposure) as exposure, bool_or(to_cny is null) as no_rate
        from exposure group by 1 order by 1""")
    return totals


def _scores(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    """The active model's latest scores on or before the date, its PD distribution and PSI."""
    if not reader.exists("scoring.customer_scores"):
        data.notes["scores"] = "no PD model yet: scoring.customer_scores does not exist"
        return None
    registry = reader.exists("scoring.model_registry")
    run = reader.one(f"""
        select scores.as_of_date, scores.model_version
        from scoring.customer_scores as scores
        {"left join scoring.model_registry as registry using (model_version)" if registry else ""}
        where scores.as_of_date <= %(d)s and not scores.is_shadow
        group by 1, 2
        order by scores.as_of_date desc, {"bool_or(registry.status = 'active') desc nulls last," if registry else ""}
                 count(*) desc
        limit 1""")
    if run is None:
        data.notes["scores"] = f"no PD scores on or before {data.as_of_date}"
        return None
    params = {"score_date": run["as_of_date"], "model": run["model_version"]}
    labels = {}
    if reader.exists("scoring.rating_master_scale"):
        labels = {row["grade"]: row["grade_label"] for row in reader.rows(
            "select grade, grade_label from scoring.rating_master_scale order by grade")}
    grades = reader.rows(
        """select grade, count(*) as customers, avg(pd) as mean_pd, min(pd) as min_pd, max(pd) as max_pd,
                  count(*) filter (where is_in_default) as in_default
           from scoring.customer_scores
           where as_of_date = %(score_date)s and model_version = %(model)s
           group by grade order by grade""", params)
    for row in grades:
        row["grade_label"] = labels.get(row["grade"])
    stats = reader.one(
        """select count(*) as customers, avg(pd) as mean_pd,
                  percentile_cont(0.5) within group (order by pd) as median_pd,
                  count(*) filter (where is_in_default) as in_default
           from scoring.customer_scores
           where as_of_date = %(score_date)s and model_version = %(model)s""", params)
    psi: list[dict[str, Any]] = []
    if reader.exists("scoring.model_monitoring"):
        psi = reader.rows(
            """select feature, value, status from scoring.model_monitoring
               where metric = 'psi' and as_of_date = %(score_date)s and model_version = %(model)s
               order by value desc nulls last, feature""", params)
    if not psi:
        data.notes["psi"] = f"no PSI recorded for model {run['model_version']} on {run['as_of_date']}"
    return {"score_date": run["as_of_date"], "model_version": run["model_version"], "grades": grades,
            "grade_labels": labels, "psi": psi, **(stats or {})}


def _exposure_by_risk(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    """Exposure by rating grade when the model has scored, else by utilisation band."""
    exposure = data.section("exposure")
    if not exposure:
        return None
    scores = data.section("scores")
    if not scores:
        return {"by": "utilisation", "rows": [
            {"label": row["band"], "customers": row["customers"], "exposure_cny": row["exposure_cny"] or 0.0}
            for row in exposure["by_utilisation_band"]]}
    rows = reader.rows(f"""
        with fx as ({reader.fx}),
        exposure as (
            select e.customer_id, e.exposure * case when e.currency = 'CNY' then 1 else fx.cny_per_unit end as cny
            from marts.fct_credit_exposure_daily as e left join fx on fx.currency = e.currency
            where e.as_of_date = %(d)s
        ),
        scores as (
            select customer_id, grade from scoring.customer_scores
            where as_of_date = %(score_date)s and model_version = %(model)s
        )
        select scores.grade, count(*) as customers, coalesce(sum(exposure.cny), 0) as exposure_cny
        from exposure left join scores using (customer_id)
        group by scores.grade order by scores.grade nulls last""",
        {"score_date": scores["score_date"], "model": scores["model_version"]})
    labels = scores.get("grade_labels") or {}
    return {"by": "grade", "score_date": scores["score_date"], "model_version": scores["model_version"], "rows": [
        {"label": "unscored" if row["grade"] is None else str(row["grade"]), "grade": row["grade"],
         "grade_label": labels.get(row["grade"]), "customers": row["customers"], "exposure_cny": row["exposure_cny"]}
        for row in rows]}


def _aging(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    rows: list[dict[str, Any]] = []
    source = None
    if reader.exists("marts.portfolio_aging_by_segment"):
        rows = reader.rows(
            """select aging_bucket, sum(open_amount) as open_amount, sum(open_item_count)::bigint as open_items
               from marts.portfolio_aging_by_segment where as_of_date = %(d)s group by 1""")
        source = "marts.portfolio_aging_by_segment"
    if not rows and reader.conn.execute(
            "select to_regprocedure('marts.ar_open_items_as_of(date, date)') is not null").fetchone()[0]:
        rows = reader.rows(f"""
            with fx as ({reader.fx})
            select items.aging_bucket,
                   sum(items.open_amount * case when items.currency = 'CNY' then 1 else fx.cny_per_unit end)
                       as open_amount,
                   count(*) as open_items
            from marts.ar_open_items_as_of(%(d)s, %(d)s) as items
            left join fx on fx.currency = items.currency
            group by 1""")
        source = "marts.ar_open_items_as_of(date, known_on => date)"
    if not rows:
        data.notes["aging"] = f"no open items as of {data.as_of_date}"
        return None
    found = {row["aging_bucket"]: row for row in rows}
    buckets = [{"bucket": bucket, "open_amount": (found.get(bucket) or {}).get("open_amount") or 0.0,
                "open_items": (found.get(bucket) or {}).get("open_items") or 0} for bucket in AGING_BUCKETS]
    total = sum(b["open_amount"] for b in buckets)
    overdue = total - buckets[0]["open_amount"]
    return {"source": source, "buckets": buckets, "total": total, "overdue": overdue,
            "overdue_share": overdue / total if total else None}


def _dso_cei(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("marts.portfolio_dso_cei_trend"):
        data.notes["dso_cei"] = "marts.portfolio_dso_cei_trend does not exist yet"
        return None
    points = reader.rows(
        """select as_of_date, is_month_end, dso_simple, dso_count_back, best_possible_dso,
                  average_days_delinquent, collection_effectiveness_index, open_receivables, credit_sales
           from marts.portfolio_dso_cei_trend where as_of_date <= %(d)s
           order by as_of_date desc limit %(n)s""", {"n": TREND_POINTS})
    if not points:
        data.notes["dso_cei"] = f"no DSO/CEI snapshot on or before {data.as_of_date}"
        return None
    points.reverse()
    return {"points": points, "latest": points[-1]}


def _alerts(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("scoring.alerts"):
        data.notes["alerts"] = "no alerts yet: scoring.alerts does not exist"
        return None
    names = ""
    if data.section("exposure"):
        names = """left join marts.fct_credit_exposure_daily as exposure
                       on exposure.customer_id = alerts.customer_id and exposure.as_of_date = %(d)s"""
    # open on the date: raised by then and not resolved by then (a person's resolution dates from resolved_at)
    live = reader.rows(f"""
        select alerts.alert_id, alerts.customer_id, {"exposure.customer_name" if names else "null"} as customer_name,
               alerts.rule_id, alerts.rule_version, alerts.severity, alerts.status, alerts.raised_on,
               alerts.evidence ->> 'rule' as rule_description, alerts.raised_on = %(d)s as is_new,
               %(d)s - alerts.raised_on as days_open
        from scoring.alerts as alerts
        {names}
        where alerts.raised_on <= %(d)s
          and (alerts.status <> 'resolved'
               or coalesce(alerts.resolved_on, (alerts.resolved_at at time zone %(tz)s)::date) > %(d)s)
        order by case alerts.severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end,
                 alerts.raised_on desc, alerts.alert_id desc""", {"tz": data.timezone})
    resolved = reader.one(
        """select count(*) as resolved from scoring.alerts
           where coalesce(resolved_on, (resolved_at at time zone %(tz)s)::date) = %(d)s""", {"tz": data.timezone})
    by_severity = {severity: {"open": 0, "new": 0} for severity in SEVERITIES}
    for row in live:
        counts = by_severity.setdefault(row["severity"], {"open": 0, "new": 0})
        counts["open"] += 1
        counts["new"] += int(bool(row["is_new"]))
    by_rule: dict[str, int] = {}
    for row in live:
        by_rule[row["rule_id"]] = by_rule.get(row["rule_id"], 0) + 1
    return {"open": len(live), "new": sum(int(bool(r["is_new"])) for r in live),
            "resolved_today": (resolved or {}).get("resolved", 0), "by_severity": by_severity,
            "by_rule": dict(sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))), "rows": live}


def _worklist(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("scoring.collections_worklist"):
        return None
    names = ""
    if data.section("exposure"):
        names = """left join marts.fct_credit_exposure_daily as exposure
                       on exposure.customer_id = work.customer_id and exposure.as_of_date = work.as_of_date"""
    rows = reader.rows(f"""
        select work.rank, work.customer_id, {"exposure.customer_name" if names else "null"} as customer_name,
               work.currency, work.overdue_amount, work.max_dpd, work.dunning_level, work.expected_loss
        from scoring.collections_worklist as work
        {names}
        where work.as_of_date = %(d)s order by work.rank limit 10""")
    if not rows:
        data.notes["worklist"] = f"no collections worklist for {data.as_of_date}"
        return None
    size = reader.one("select count(*) as customers from scoring.collections_worklist where as_of_date = %(d)s")
    return {"customers": size["customers"], "rows": rows}


def _limit_proposals(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    if not reader.exists("scoring.limit_proposals"):
        return None
    return reader.one(
        """select count(*) filter (where change > 0) as increases, count(*) filter (where change < 0) as decreases,
                  count(*) filter (where change = 0 or change is null) as unchanged
           from scoring.limit_proposals where as_of_date = %(d)s and not is_shadow""")


def _data_quality(reader: _Reader, data: ReportData) -> dict[str, Any] | None:
    """The date's nightly run: its stages, the quality checks it ran, what it loaded and quarantined."""
    run_id = None
    stages: list[dict[str, Any]] = []
    if reader.exists("ops.stage_runs"):
        latest = reader.one(
            """select run_id from ops.stage_runs where business_date = %(d)s
               group by run_id order by max(started_at) desc limit 1""")
        if latest:
            run_id = latest["run_id"]
            stages = reader.rows(
                """select stage, status, seconds from ops.stage_runs where run_id = %(run)s order by started_at""",
                {"run": run_id})
    manifest = reader.exists("raw.load_manifest")
    if run_id is None and manifest:
        # loaded outside a recorded run (by hand): the files delivered for the date
        latest = reader.one(
            """select run_id from raw.load_manifest where business_date = %(d)s and run_id is not null
               group by run_id order by max(started_at) desc limit 1""")
        run_id = latest and latest["run_id"]
    if run_id is None:
        data.notes["data_quality"] = f"no nightly run recorded for {data.as_of_date}"
        return None
    suites: list[dict[str, Any]] = []
    if reader.exists("dq.validation_results"):
        suites = reader.rows(
            """select distinct on (suite_name) suite_name, table_name, blocking, success, evaluated, failed
               from dq.validation_results where run_id = %(run)s
               order by suite_name, validated_at desc""", {"run": run_id})
    sources: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    if manifest:
        sources = reader.rows(
            """select source,
                      count(*) filter (where status = 'loaded') as files_loaded,
                      count(*) filter (where status = 'failed') as files_failed,
                      count(*) filter (where status in ('duplicate', 'superseded')) as files_skipped,
                      coalesce(sum(rows_read) filter (where status = 'loaded'), 0) as rows_read,
                      coalesce(sum(rows_loaded) filter (where status = 'loaded'), 0) as rows_loaded,
                      coalesce(sum(rows_quarantined) filter (where status = 'loaded'), 0) as rows_quarantined
               from raw.load_manifest where run_id = %(run)s group by source order by source""", {"run": run_id})
        if reader.exists("raw.quarantine"):
            # the reason's kind only: the text after ':' quotes the offending value, which may be personal
            reasons = reader.rows(
                """select manifest.source, quarantine.feed, quarantine.field,
                          left(split_part(quarantine.reason, ':', 1), 80) as reason, count(*) as rows
                   from raw.quarantine as quarantine
                   inner join raw.load_manifest as manifest using (batch_id)
                   where manifest.run_id = %(run)s
                   group by 1, 2, 3, 4 order by rows desc, 1, 2, 3 limit 15""", {"run": run_id})
    checks = sum(s["evaluated"] or 0 for s in suites)
    failed = sum(s["failed"] or 0 for s in suites)
    return {
        "run_id": run_id, "stages": stages, "suites": suites, "suites_run": len(suites),
        "suites_failed": sum(1 for s in suites if not s["success"]),
        "blocking_failed": sum(1 for s in suites if not s["success"] and s["blocking"]),
        "checks_run": checks, "checks_failed": failed, "sources": sources, "reasons": reasons,
        "rows_quarantined": sum(s["rows_quarantined"] for s in sources),
        "files_failed": sum(s["files_failed"] for s in sources),
    }
