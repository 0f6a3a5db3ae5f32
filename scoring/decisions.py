"""The nightly decisions step: policy rules → alerts, limit proposals, collections worklist, timeline.

``run_nightly_decisions`` is the scoring stage's entry point (after the PD model has scored, when it
runs in the same stage). One transaction: a failure leaves the previous state untouched.

1. The active rule set from ``scoring.policy_versions`` (on a new warehouse the bundled
   ``scoring/policies/credit_policy.yml`` is activated by 'system'); a shadow rule set if one runs.
2. Source freshness from ``raw.load_manifest`` against the policy's SLAs.
3. Active rules evaluated and stored (``scoring.rule_hits``, ``scoring.rule_evaluations``); alerts
   raised and resolved from them (rules reading a stale source suppressed and flagged).
4. Limit proposals, the collections worklist, the customer timeline.
5. The shadow rule set evaluated and stored beside (is_shadow), with its limit proposals; no alerts.

``scoring.credit_warnings`` (the day's warnings per customer) is a view over the stored rule hits.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from credit_dw import warehouse
from scoring import alerts, limits, timeline, warnings, worklist
from scoring.rules import engine, registry
from scoring.rules.policy import DEFAULT_POLICY, load_policy


def ensure_schema(conn) -> None:
    registry.ensure_registry(conn)
    engine.ensure_engine(conn)
    warnings.ensure_warnings(conn)
    alerts.ensure_alerts(conn)
    limits.ensure_limits(conn)
    worklist.ensure_worklist(conn)
    timeline.ensure_timeline(conn)
    conn.execute("""
        create table if not exists scoring.customer_flags (
            customer_id text not null,
            flag text not null check (flag in ('fraud')),
            set_on date not null,
            cleared_on date,
            set_by text not null,
            note text,
            primary key (customer_id, flag, set_on)
        )""")


def run_nightly_decisions(as_of_date: date, *, database_url: str | None = None, run_id: str | None = None) -> dict:
    """Everything the policy decides for ``as_of_date``; returns what was done, for ops.stage_runs."""
    with warehouse.connect(database_url) as conn:
        ensure_schema(conn)
        active = registry.active_or_bootstrap(conn)
        evaluation = engine.evaluate(conn, active, as_of_date, run_id=run_id)
        alert_summary = alerts.apply_evaluation(conn, evaluation, run_id=run_id)
        proposals = limits.propose_limits(conn, evaluation, run_id=run_id)
        work = worklist.build_worklist(conn, active, as_of_date, run_id=run_id)
        shadow_summary = None
        shadow = registry.in_force(conn, active.name, mode="shadow")
        if shadow is not None:
            shadow_evaluation = engine.evaluate(conn, shadow, as_of_date, is_shadow=True, run_id=run_id)
            shadow_summary = {**shadow_evaluation.summary(),
                              "limit_proposals": limits.propose_limits(conn, shadow_evaluation, run_id=run_id)}
        events = timeline.build_timeline(conn, as_of_date)
    bundled = load_policy(DEFAULT_POLICY)
    notes = []
    if bundled.name == active.name and bundled.content_hash != active.content_hash:
        notes.append(f"{DEFAULT_POLICY.name} in the repository ({bundled.version}, {bundled.content_hash[:12]}) "
                     f"differs from the active policy ({active.version}, {active.content_hash[:12]}): "
                     "simulate it and run `credit-dw rules activate` to use it")
    stale = [f.describe() for f in evaluation.freshness.values() if f.stale]
    return {
        "as_of_date": as_of_date.isoformat(),
        # the keys the CLI's run summary reads: alerts raised this run, by severity
        "raised": alert_summary.raised,
        "by_severity": alert_summary.by_severity,
        "policy": evaluation.summary(),
        "alerts": alert_summary.as_dict(),
        "stale_sources": stale,
        "limit_proposals": proposals,
        "worklist": work,
        "timeline": events,
        "shadow": shadow_summary,
        "notes": notes,
    }


def decisions_summary(result: dict[str, Any]) -> str:
    """One line for the nightly summary table."""
    severity = ", ".join(f"{count} {level}" for level, count in sorted(result.get("by_severity", {}).items()))
    text = f"{result.get('raised', 0)} alerts raised" + (f" ({severity})" if severity else "")
    suppressed = (result.get("alerts") or {}).get("suppressed_rules") or {}
    if suppressed:
        text += f"; {len(suppressed)} rule(s) suppressed: stale {', '.join(result.get('stale_sources', []))}"
    work = result.get("worklist") or {}
    if "rows" in work:
        text += f"; worklist {work['rows']} customers"
    return text
