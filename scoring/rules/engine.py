"""Evaluating rule sets inside the warehouse: one business date (nightly), a range (simulation), two
rule sets side by side (shadow comparison), and the freshness of the sources they read.

The customer target is materialised once per evaluation into a temporary table; each rule is then
one query over it, rendered from its checked expression with bound parameters. "for_days: N" holds
when the condition held on each of the customer's last N snapshots (window over the as-of dates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scoring.rules.expressions import ParamSink
from scoring.rules.policy import Rule, RuleSet
from scoring.rules.targets import CUSTOMER_COLUMN, available_columns, customer_relation, systems_of

ENGINE_DDL = """
create schema if not exists scoring;
create table if not exists scoring.rule_evaluations (
    as_of_date date not null,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    is_shadow boolean not null,
    rule_id text not null,
    rule_version integer not null,
    rule_kind text not null,
    status text not null check (status in ('evaluated', 'suppressed', 'unavailable')),
    customers_evaluated integer not null,
    hits integer not null,
    detail text,
    run_id text,
    evaluated_at timestamptz not null default now(),
    primary key (as_of_date, content_hash, is_shadow, rule_id)
);
create table if not exists scoring.rule_hits (
    as_of_date date not null,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    is_shadow boolean not null,
    rule_id text not null,
    rule_version integer not null,
    rule_kind text not null,
    customer_id text not null,
    severity text not null,
    evidence jsonb not null,
    run_id text,
    evaluated_at timestamptz not null default now(),
    primary key (as_of_date, content_hash, is_shadow, rule_id, customer_id)
);
create index if not exists rule_hits_customer on scoring.rule_hits (customer_id, as_of_date);
"""

DELIVERED = ("loaded", "duplicate", "superseded")
CUSTOMER_ROWS = "decision_customer_rows"


@dataclass(frozen=True)
class SourceFreshness:
    system: str
    latest_business_date: date | None
    lag_business_days: int | None
    sla_business_days: int
    stale: bool

    def describe(self) -> str:
        if self.latest_business_date is None:
            return f"{self.system}: nothing delivered (SLA {self.sla_business_days} business days)"
        return (f"{self.system}: latest delivery {self.latest_business_date}, {self.lag_business_days} business "
                f"days old (SLA {self.sla_business_days})")


@dataclass
class RuleOutcome:
    rule: Rule
    status: str  # evaluated, suppressed, unavailable
    customers: int = 0
    hits: list[dict[str, Any]] = field(default_factory=list)
    detail: str | None = None


@dataclass
class Evaluation:
    rule_set: RuleSet
    as_of_date: date
    is_shadow: bool
    outcomes: list[RuleOutcome]
    freshness: dict[str, SourceFreshness]

    def hits_of(self, kind: str) -> dict[str, list[tuple[Rule, dict[str, Any]]]]:
        """{customer_id: [(rule, hit)]} for rules of ``kind`` that were evaluated (suppressed included)."""
        found: dict[str, list[tuple[Rule, dict[str, Any]]]] = {}
        for outcome in self.outcomes:
            if outcome.rule.kind == kind and outcome.status != "unavailable":
                for hit in outcome.hits:
                    found.setdefault(hit["customer_id"], []).append((outcome.rule, hit))
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "rule_set": self.rule_set.name, "version": self.rule_set.version,
            "content_hash": self.rule_set.content_hash, "is_shadow": self.is_shadow,
            "rules": {o.rule.id: {"status": o.status, "hits": len(o.hits), "detail": o.detail} for o in self.outcomes},
            "stale_sources": [f.describe() for f in self.freshness.values() if f.stale],
        }


def ensure_engine(conn) -> None:
    conn.execute(ENGINE_DDL)


def business_days_between(earlier: date, later: date) -> int:
    """Monday-to-Friday days after ``earlier`` up to and including ``later`` (no holiday calendar)."""
    if later <= earlier:
        return 0
    full_weeks, remainder = divmod((later - earlier).days, 7)
    days = full_weeks * 5
    for offset in range(1, remainder + 1):
        if (earlier + timedelta(days=full_weeks * 7 + offset)).weekday() < 5:
            days += 1
    return days


def source_freshness(conn, as_of_date: date, sla: dict[str, int]) -> dict[str, SourceFreshness]:
    """Latest business date each source delivered (raw.load_manifest) against the as-of date."""
    latest: dict[str, date] = {}
    if conn.execute("select to_regclass('raw.load_manifest')").fetchone()[0] is not None:
        latest = dict(conn.execute(
            """select source, max(business_date) from raw.load_manifest
               where status = any(%s) and business_date <= %s group by source""",
            (list(DELIVERED), as_of_date),
        ).fetchall())
    freshness = {}
    for system, limit in sla.items():
        delivered = latest.get(system)
        lag = business_days_between(delivered, as_of_date) if delivered else None
        freshness[system] = SourceFreshness(system, delivered, lag, limit, lag is None or lag > limit)
    return freshness


def load_customer_rows(conn, start: date, end: date, *, lookback: int = 1) -> tuple[set[str], dict[str, str]]:
    """Materialise the customer target for [start, end] plus ``lookback``-1 earlier snapshots, into a
    temporary table. Returns the available columns and why the others are not."""
    available, missing = available_columns(conn)
    conn.execute(f"drop table if exists pg_temp.{CUSTOMER_ROWS}")
    if conn.execute("select to_regclass('marts.fct_credit_exposure_daily')").fetchone()[0] is None:
        # the same shape, no rows: every rule is unavailable and every reader finds its columns
        typed = ", ".join(f"{column.name} {column.type}" for column in CUSTOMER_COLUMN.values())
        conn.execute(f"create temporary table {CUSTOMER_ROWS} (as_of_date date, customer_id text, {typed}, "
                     "_model_version text)")
        return set(), {name: "marts.fct_credit_exposure_daily does not exist yet" for name in CUSTOMER_COLUMN}
    first = conn.execute(
        """select min(as_of_date) from (
               select distinct as_of_date from marts.fct_credit_exposure_daily
               where as_of_date <= %s order by as_of_date desc limit %s) as earlier""",
        (start, max(lookback, 1)),
    ).fetchone()[0] or start
    current = conn.execute("select to_regclass('marts.customer_credit_profile')").fetchone()[0] is not None
    relation = customer_relation(available, profile_current=current)
    conn.execute(f"create temporary table {CUSTOMER_ROWS} as {relation}",
                 {"start": min(first, start), "end": end})
    conn.execute(f"create index on {CUSTOMER_ROWS} (customer_id, as_of_date)")
    conn.execute(f"analyze {CUSTOMER_ROWS}")
    return available, missing


def rule_query(rule: Rule, params: ParamSink, *, relation: str = CUSTOMER_ROWS) -> str:
    """SELECT of (as_of_date, customer_id, severity, evidence) for the rule's hits between %(from)s
    and %(to)s over ``relation``; every piece of the rule goes in as rendered AST or parameter."""
    condition = rule.condition.render("customer", params)
    severity = f"%({params.add(rule.severity)})s::text"
    if rule.escalations:
        branches = " ".join(
            f"when coalesce({step.when.render('customer', params)}, false) then %({params.add(step.severity)})s"
            for step in rule.escalations
        )
        severity = f"(case {branches} else {severity} end)::text"
    evidence_pairs = ", ".join(
        f"%({params.add(name)})s::text, customer.\"{name}\"" for name in rule.columns
    ) or "'as_of_date', customer.as_of_date"
    window = max(rule.for_days, 1) - 1
    return f"""
        with evaluated as (
            select customer.as_of_date, customer.customer_id,
                   coalesce({condition}, false) as hit,
                   {severity} as severity,
                   jsonb_build_object({evidence_pairs}) as evidence
            from {relation} as customer
        ),
        held as (
            select *,
                   count(*) filter (where hit) over recent as days_held,
                   count(*) over recent as days_seen
            from evaluated
            window recent as (
                partition by customer_id order by as_of_date rows between {window} preceding and current row
            )
        )
        select as_of_date, customer_id, severity, evidence from held
        where hit and days_held = {window + 1} and days_seen = {window + 1}
          and as_of_date between %(from)s and %(to)s
        order by as_of_date, customer_id
    """


def unavailable_reason(columns: tuple[str, ...], available: set[str], missing: dict[str, str]) -> str | None:
    """Why an expression over ``columns`` cannot run now (a mart or column not built yet), or None."""
    absent = [name for name in columns if name not in available]
    if not absent:
        return None
    return "; ".join(sorted({f"{name}: {missing.get(name, 'not available')}" for name in absent}))


def evaluate(
    conn, rule_set: RuleSet, as_of_date: date, *, is_shadow: bool = False, run_id: str | None = None,
    store: bool = True, check_freshness: bool = True,
) -> Evaluation:
    """Every customer rule of ``rule_set`` on ``as_of_date``; stored in scoring.rule_hits and
    scoring.rule_evaluations (replacing that date's rows for this content hash)."""
    ensure_engine(conn)
    rules = rule_set.customer_rules
    lookback = max([r.for_days for r in rules] or [1])
    available, missing = load_customer_rows(conn, as_of_date, as_of_date, lookback=lookback)
    customers = conn.execute(
        f"select count(*) from {CUSTOMER_ROWS} where as_of_date = %s", (as_of_date,)
    ).fetchone()[0]
    freshness = source_freshness(conn, as_of_date, rule_set.sla) if check_freshness else {}
    outcomes = []
    for rule in rules:
        reason = unavailable_reason(rule.columns, available, missing)
        if reason:
            outcomes.append(RuleOutcome(rule, "unavailable", customers, [], reason))
            continue
        params = ParamSink()
        query = rule_query(rule, params)
        rows = conn.execute(query, {**params.values, "from": as_of_date, "to": as_of_date}).fetchall()
        hits = [{"customer_id": r[1], "severity": r[2], "evidence": r[3]} for r in rows]
        stale = [freshness[s] for s in systems_of(rule.columns) if s in freshness and freshness[s].stale]
        if stale:
            detail = "suppressed, stale source: " + "; ".join(f.describe() for f in stale)
            outcomes.append(RuleOutcome(rule, "suppressed", customers, hits, detail))
        else:
            outcomes.append(RuleOutcome(rule, "evaluated", customers, hits))
    evaluation = Evaluation(rule_set, as_of_date, is_shadow, outcomes, freshness)
    if store:
        _store(conn, evaluation, run_id)
    return evaluation


def _store(conn, evaluation: Evaluation, run_id: str | None) -> None:
    rule_set = evaluation.rule_set
    key = (evaluation.as_of_date, rule_set.content_hash, evaluation.is_shadow)
    conn.execute("delete from scoring.rule_hits where as_of_date = %s and content_hash = %s and is_shadow = %s", key)
    conn.execute("delete from scoring.rule_evaluations where as_of_date = %s and content_hash = %s "
                 "and is_shadow = %s", key)
    common = (evaluation.as_of_date, rule_set.name, rule_set.version, rule_set.content_hash, evaluation.is_shadow)
    with conn.cursor() as cursor:
        for outcome in evaluation.outcomes:
            rule = outcome.rule
            cursor.execute(
                """insert into scoring.rule_evaluations
                       (as_of_date, rule_set, rule_set_version, content_hash, is_shadow, rule_id, rule_version,
                        rule_kind, status, customers_evaluated, hits, detail, run_id)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (*common, rule.id, rule.version, rule.kind, outcome.status, outcome.customers, len(outcome.hits),
                 outcome.detail, run_id),
            )
            if outcome.hits:
                cursor.executemany(
                    """insert into scoring.rule_hits
                           (as_of_date, rule_set, rule_set_version, content_hash, is_shadow, rule_id, rule_version,
                            rule_kind, customer_id, severity, evidence, run_id)
                       values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [(*common, rule.id, rule.version, rule.kind, hit["customer_id"], hit["severity"],
                      json.dumps(hit["evidence"], default=str), run_id) for hit in outcome.hits],
                )


def simulate(conn, rule_set: RuleSet, start: date, end: date) -> dict[str, Any]:
    """How many customers each rule would have hit on each business date in [start, end], on the
    history the marts hold now; nothing is stored and no alert is raised."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    rules = rule_set.customer_rules
    lookback = max([r.for_days for r in rules] or [1])
    available, missing = load_customer_rows(conn, start, end, lookback=lookback)
    days = [row[0] for row in conn.execute(
        f"select distinct as_of_date from {CUSTOMER_ROWS} where as_of_date between %s and %s order by 1",
        (start, end),
    )]
    customers = dict(conn.execute(
        f"select as_of_date, count(*) from {CUSTOMER_ROWS} where as_of_date between %s and %s group by 1",
        (start, end),
    ).fetchall())
    report: dict[str, Any] = {
        "rule_set": rule_set.name, "version": rule_set.version, "content_hash": rule_set.content_hash,
        "from": start.isoformat(), "to": end.isoformat(), "days": [d.isoformat() for d in days],
        "customers_per_day": {d.isoformat(): customers.get(d, 0) for d in days}, "rules": [],
    }
    for rule in rules:
        entry: dict[str, Any] = {"rule_id": rule.id, "rule_version": rule.version, "kind": rule.kind}
        reason = unavailable_reason(rule.columns, available, missing)
        if reason:
            entry.update(status="unavailable", detail=reason, hits_per_day={}, distinct_customers=0)
        else:
            params = ParamSink()
            rows = conn.execute(rule_query(rule, params), {**params.values, "from": start, "to": end}).fetchall()
            per_day = {d.isoformat(): 0 for d in days}
            for as_of, _customer, *_ in rows:
                per_day[as_of.isoformat()] += 1
            entry.update(status="evaluated", hits_per_day=per_day,
                         distinct_customers=len({row[1] for row in rows}))
        report["rules"].append(entry)
    return report


def compare(conn, active: RuleSet, shadow: RuleSet, as_of_date: date) -> dict[str, Any]:
    """Per rule id: customers hit by the active set, by the shadow set, by both, by one only."""
    first = evaluate(conn, active, as_of_date, store=False, check_freshness=False)
    second = evaluate(conn, shadow, as_of_date, is_shadow=True, store=False, check_freshness=False)
    by_rule: dict[str, dict[str, Any]] = {}
    for label, evaluation in (("active", first), ("shadow", second)):
        for outcome in evaluation.outcomes:
            entry = by_rule.setdefault(outcome.rule.id, {"rule_id": outcome.rule.id})
            entry[f"{label}_version"] = outcome.rule.version
            entry[f"{label}_status"] = outcome.status
            entry[f"{label}_customers"] = sorted(hit["customer_id"] for hit in outcome.hits)
    rows = []
    for rule_id, entry in by_rule.items():
        left, right = set(entry.get("active_customers", [])), set(entry.get("shadow_customers", []))
        rows.append({
            "rule_id": rule_id,
            "active_version": entry.get("active_version"), "shadow_version": entry.get("shadow_version"),
            "active_status": entry.get("active_status", "absent"),
            "shadow_status": entry.get("shadow_status", "absent"),
            "active_hits": len(left), "shadow_hits": len(right), "both": len(left & right),
            "only_active": sorted(left - right), "only_shadow": sorted(right - left),
        })
    return {
        "as_of_date": as_of_date.isoformat(),
        "active": {"rule_set": active.name, "version": active.version, "content_hash": active.content_hash},
        "shadow": {"rule_set": shadow.name, "version": shadow.version, "content_hash": shadow.content_hash},
        "rules": rows,
    }
