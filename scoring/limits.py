"""Credit-limit proposals: current limit against the policy's formula, and why.

proposed = base × each factor (SQL expressions of the policy, evaluated in the warehouse over the
customer target), then the caps in a fixed order: max_limit, max_increase_ratio, max_decrease_ratio,
min_limit, rounding down to ``round_to``. Each step that changed the number is written into the
reason. A blacklisted customer gets 0, and the reason names the blacklist rule. Stored in
``scoring.limit_proposals``, one row per customer, date and active/shadow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from scoring.rules.engine import CUSTOMER_ROWS, Evaluation, load_customer_rows, unavailable_reason
from scoring.rules.expressions import ParamSink
from scoring.rules.policy import LimitFormula, Rule
from scoring.rules.targets import available_columns

LIMITS_DDL = """
create schema if not exists scoring;
create table if not exists scoring.limit_proposals (
    as_of_date date not null,
    customer_id text not null,
    is_shadow boolean not null default false,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    rule_id text not null,
    rule_version integer not null,
    currency text,
    current_limit numeric(18, 2),
    proposed_limit numeric(18, 2) not null,
    change numeric(18, 2),
    reason text not null,
    evidence jsonb not null,
    run_id text,
    created_at timestamptz not null default now(),
    primary key (as_of_date, customer_id, is_shadow)
);
"""


@dataclass(frozen=True)
class Proposal:
    proposed: float
    reason: str
    steps: list[str]


def ensure_limits(conn) -> None:
    conn.execute(LIMITS_DDL)


def _money(value: float | None) -> str:
    return "none" if value is None else f"{value:,.2f}"


def apply_formula(formula: LimitFormula, base: float | None, factors: dict[str, float | None],
                  current: float | None, *, ceiling: float | None = None) -> Proposal:
    """The capped, rounded limit for evaluated ``base`` and ``factors``, with each step in words."""
    steps: list[str] = []
    missing = [name for name, value in factors.items() if value is None]
    if base is None or missing:
        what = ", ".join((["base"] if base is None else []) + missing)
        kept = current or 0.0
        return Proposal(kept, f"kept {_money(kept)}: the formula has no value for {what} (missing data)", steps)
    value = base
    text = f"base {formula.base.text.strip()} = {_money(base)}"
    for name, factor in factors.items():
        value *= factor
        text += f" × {name} {factor:g}"
    steps.append(f"{text} = {_money(value)}")
    if formula.max_limit is not None and value > formula.max_limit:
        value = formula.max_limit
        steps.append(f"capped at max_limit {_money(value)}")
    if ceiling is not None and value > ceiling:
        value = ceiling
        steps.append(f"capped at the requested limit {_money(value)}")
    if current and formula.max_increase_ratio is not None and value > current * formula.max_increase_ratio:
        value = current * formula.max_increase_ratio
        steps.append(f"capped at {formula.max_increase_ratio:g} × current limit = {_money(value)}")
    if current and formula.max_decrease_ratio is not None and value < current * formula.max_decrease_ratio:
        value = current * formula.max_decrease_ratio
        steps.append(f"floored at {formula.max_decrease_ratio:g} × current limit = {_money(value)}")
    if value < formula.min_limit:
        value = formula.min_limit
        steps.append(f"floored at min_limit {_money(value)}")
    # Round down to round_to, unless that breaks a floor: then up, unless that breaks a cap: then as is.
    lower = max([formula.min_limit] + ([current * formula.max_decrease_ratio]
                                       if current and formula.max_decrease_ratio is not None else []))
    upper = min([u for u in (formula.max_limit, ceiling,
                             current * formula.max_increase_ratio if current and formula.max_increase_ratio else None)
                 if u is not None] or [math.inf])
    rounded = math.floor(value / formula.round_to + 1e-9) * formula.round_to
    if rounded < lower - 1e-9:
        rounded = math.ceil(value / formula.round_to - 1e-9) * formula.round_to
        if rounded > upper + 1e-9:
            rounded = value
    if rounded != value:
        steps.append(f"rounded to a multiple of {formula.round_to:g}: {_money(rounded)}")
    return Proposal(round(rounded, 2), "; ".join(steps), steps)


def blacklist_reason(hits: list[tuple[Rule, dict[str, Any]]]) -> str:
    return "blacklisted: " + "; ".join(
        f"{rule.id} v{rule.version} ({rule.description or rule.condition.text})" for rule, _ in hits
    )


def formula_query(formula: LimitFormula, params: ParamSink, alias: str) -> tuple[str, list[str]]:
    """Select-list text computing base and each factor, and the factor names in order."""
    parts = [f"{formula.base.render(alias, params)}::float8 as base"]
    names = list(formula.factors)
    for index, name in enumerate(names):
        parts.append(f"{formula.factors[name].render(alias, params)}::float8 as factor_{index}")
    return ", ".join(parts), names


def propose_limits(conn, evaluation: Evaluation, *, run_id: str | None = None) -> dict[str, Any]:
    """Proposals for every customer on the evaluation's date (active or shadow, as the evaluation)."""
    ensure_limits(conn)
    rule_set, as_of = evaluation.rule_set, evaluation.as_of_date
    formula = rule_set.limits
    _ensure_rows(conn, as_of)
    blacklisted = evaluation.hits_of("blacklist")
    available, missing = available_columns(conn)
    # Columns of a mart not built yet read as NULL here (formulas say what NULL means, e.g. "pd is null
    # then 1.0"); the summary and each row's evidence name them.
    unavailable = "the policy has no limits section" if formula is None else None
    read_as_null = unavailable_reason(formula.columns, available, missing) if formula is not None else None
    evidence_columns = sorted(set(formula.columns if formula else ()) | {"exposure", "credit_limit"})
    evidence_sql = ", ".join(f"'{name}', customer.\"{name}\"" for name in evidence_columns)
    params = ParamSink()
    select = "null::float8 as base"
    names: list[str] = []
    if not unavailable and formula is not None:
        select, names = formula_query(formula, params, "customer")
    rows = conn.execute(
        f"""select customer.customer_id, customer.currency, customer.credit_limit::float8,
                   jsonb_build_object({evidence_sql}) as inputs, {select}
            from {CUSTOMER_ROWS} as customer where customer.as_of_date = %(as_of)s order by customer.customer_id""",
        {**params.values, "as_of": as_of},
    ).fetchall()
    conn.execute("delete from scoring.limit_proposals where as_of_date = %s and is_shadow = %s",
                 (as_of, evaluation.is_shadow))
    records, counts = [], {"blacklisted": 0, "increase": 0, "decrease": 0, "unchanged": 0}
    for customer_id, currency, current, inputs, base, *factor_values in rows:
        if customer_id in blacklisted:
            hits = blacklisted[customer_id]
            rule_id, rule_version = hits[0][0].id, hits[0][0].version
            proposal = Proposal(0.0, blacklist_reason(hits), [])
            counts["blacklisted"] += 1
        elif unavailable or formula is None:
            continue
        else:
            factors = dict(zip(names, factor_values, strict=True))
            proposal = apply_formula(formula, base, factors, current)
            rule_id, rule_version = formula.id, formula.version
        change = proposal.proposed - (current or 0.0)
        if customer_id not in blacklisted:
            counts["increase" if change > 0 else "decrease" if change < 0 else "unchanged"] += 1
        direction = "increase" if change > 0 else "decrease" if change < 0 else "no change"
        reason = (f"current {_money(current)} -> proposed {_money(proposal.proposed)} ({direction}"
                  f"{'' if change == 0 else f' {change:+,.2f}'}): {proposal.reason}")
        records.append((
            as_of, customer_id, evaluation.is_shadow, rule_set.name, rule_set.version, rule_set.content_hash,
            rule_id, rule_version, currency, current, proposal.proposed, change, reason,
            json.dumps({"inputs": inputs, "steps": proposal.steps, "read_as_null": read_as_null},
                       default=_json_default), run_id,
        ))
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into scoring.limit_proposals
                   (as_of_date, customer_id, is_shadow, rule_set, rule_set_version, content_hash, rule_id,
                    rule_version, currency, current_limit, proposed_limit, change, reason, evidence, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            records,
        )
    return {"proposals": len(records), **counts, "formula_unavailable": unavailable, "read_as_null": read_as_null}


def _ensure_rows(conn, as_of: date) -> None:
    exists = conn.execute(f"select to_regclass('pg_temp.{CUSTOMER_ROWS}')").fetchone()[0]
    if exists is None or conn.execute(
        f"select not exists (select 1 from {CUSTOMER_ROWS} where as_of_date = %s)", (as_of,)
    ).fetchone()[0]:
        load_customer_rows(conn, as_of, as_of)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def list_proposals(conn, as_of_date: date, *, customer_id: str | None = None, is_shadow: bool = False
                   ) -> list[dict[str, Any]]:
    ensure_limits(conn)
    cursor = conn.execute(
        """select customer_id, currency, current_limit, proposed_limit, change, reason, rule_id, rule_version,
                  rule_set_version, content_hash
           from scoring.limit_proposals
           where as_of_date = %s and is_shadow = %s and (%s::text is null or customer_id = %s)
           order by abs(change) desc nulls last, customer_id""",
        (as_of_date, is_shadow, customer_id, customer_id),
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
