"""Early-warning alerts: raised once while a rule's condition holds, acknowledged and resolved by a
person, resolved by the system when the condition clears.

Life of an alert in ``scoring.alerts`` (one live alert per customer and rule, enforced by a unique
index over open and acknowledged alerts):

- the condition holds and no alert is live: raise one (status open), with the rule id, its version,
  the rule set's version and content hash, and the evidence;
- it holds and an alert is live: nothing new (``last_seen_on`` moves on);
- it no longer holds: a live alert is resolved by 'system' (resolution says when it cleared);
- a person resolved the alert while the condition still held: it is not raised again until the
  condition has cleared once (``cleared_on``), then it is.

Rules whose sources are staler than their SLA are suppressed: their alerts are neither raised nor
resolved that day, and the evaluation records why. Shadow rule sets never reach this module.
Business dates must be evaluated in order: a date older than the latest one evaluated leaves alerts
alone (its hits are still recorded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from scoring.rules.engine import Evaluation

ALERTS_DDL = """
create schema if not exists scoring;
create table if not exists scoring.alerts (
    alert_id bigserial primary key,
    customer_id text not null,
    rule_id text not null,
    rule_version integer not null,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    severity text not null check (severity in ('low', 'medium', 'high', 'critical')),
    status text not null default 'open' check (status in ('open', 'acknowledged', 'resolved')),
    evidence jsonb not null,
    raised_on date not null,
    raised_at timestamptz not null default now(),
    run_id text,
    last_seen_on date not null,
    acknowledged_by text,
    acknowledged_at timestamptz,
    acknowledgement_note text,
    resolved_by text,
    resolved_at timestamptz,
    resolved_on date,
    resolution text,
    cleared_on date,
    check (status <> 'acknowledged' or acknowledged_by is not null),
    check (status <> 'resolved' or resolved_by is not null)
);
alter table scoring.alerts add column if not exists acknowledgement_note text;
create unique index if not exists alerts_one_live on scoring.alerts (customer_id, rule_id)
    where status <> 'resolved';
create index if not exists alerts_status on scoring.alerts (status, severity);
create table if not exists scoring.alert_runs (
    as_of_date date primary key,
    rule_set text not null,
    content_hash text not null,
    raised integer not null,
    resolved integer not null,
    suppressed_rules jsonb not null,
    run_id text,
    evaluated_at timestamptz not null default now()
);
"""

STATUSES = ("open", "acknowledged", "resolved")
SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class AlertError(ValueError):
    """An alert that does not exist or cannot make the asked move."""


@dataclass(frozen=True)
class AlertSummary:
    as_of_date: date
    raised: int
    still_open: int
    resolved: int
    by_severity: dict[str, int]
    suppressed_rules: dict[str, str]
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"as_of_date": self.as_of_date.isoformat(), "raised": self.raised, "still_open": self.still_open,
                "resolved": self.resolved, "by_severity": self.by_severity,
                "suppressed_rules": self.suppressed_rules, "skipped": self.skipped}


def ensure_alerts(conn) -> None:
    """Create or upgrade the alert tables, only when something is missing: the DDL takes locks that
    would queue reads behind a running night, and only the tables' owner may run it (the API's role
    moves alerts through the functions below)."""
    complete = conn.execute(
        """select to_regclass('scoring.alerts') is not null and to_regclass('scoring.alert_runs') is not null
                  and to_regclass('scoring.alerts_one_live') is not null
                  and to_regclass('scoring.alerts_status') is not null
                  and exists (select 1 from pg_attribute where attrelid = to_regclass('scoring.alerts')
                              and attname = 'acknowledgement_note' and not attisdropped)"""
    ).fetchone()[0]
    if not complete:
        conn.execute(ALERTS_DDL)


def apply_evaluation(conn, evaluation: Evaluation, *, run_id: str | None = None) -> AlertSummary:
    """Raise, keep and resolve alerts from one day's evaluation of the active rule set."""
    if evaluation.is_shadow:
        raise ValueError("a shadow rule set is not acted on: no alerts from it")
    ensure_alerts(conn)
    as_of = evaluation.as_of_date
    rule_set = evaluation.rule_set
    conn.execute("select pg_advisory_xact_lock(hashtext('scoring.alerts'))")
    suppressed = {o.rule.id: o.detail or "" for o in evaluation.outcomes if o.status == "suppressed"}
    latest = conn.execute("select max(as_of_date) from scoring.alert_runs").fetchone()[0]
    if latest is not None and as_of < latest:
        return AlertSummary(as_of, 0, 0, 0, {}, suppressed,
                            skipped=f"alerts already follow {latest}; {as_of} is older and leaves them alone")
    raised = resolved = kept = 0
    by_severity: dict[str, int] = {}
    for outcome in evaluation.outcomes:
        rule = outcome.rule
        if rule.kind not in ("warning", "blacklist") or outcome.status != "evaluated":
            continue  # unavailable or suppressed: neither raise nor resolve
        hit_customers = {hit["customer_id"]: hit for hit in outcome.hits}
        # the condition cleared: resolve live alerts, and note the clearing on manually resolved ones
        cleared = conn.execute(
            """update scoring.alerts
               set status = 'resolved', resolved_by = 'system', resolved_at = now(), resolved_on = %(as_of)s,
                   resolution = 'condition cleared on ' || %(as_of)s::text, cleared_on = %(as_of)s
               where rule_id = %(rule)s and status <> 'resolved'
                 and not (customer_id = any(%(hits)s))
               returning alert_id""",
            {"as_of": as_of, "rule": rule.id, "hits": list(hit_customers)},
        ).fetchall()
        resolved += len(cleared)
        conn.execute(
            """update scoring.alerts set cleared_on = %(as_of)s
               where rule_id = %(rule)s and status = 'resolved' and cleared_on is null
                 and not (customer_id = any(%(hits)s))""",
            {"as_of": as_of, "rule": rule.id, "hits": list(hit_customers)},
        )
        for customer_id, hit in hit_customers.items():
            live = conn.execute(
                """update scoring.alerts set last_seen_on = greatest(last_seen_on, %s)
                   where customer_id = %s and rule_id = %s
                     and (status <> 'resolved' or cleared_on is null)
                   returning alert_id""",
                (as_of, customer_id, rule.id),
            ).fetchall()
            if live:
                kept += 1
                continue
            conn.execute(
                """insert into scoring.alerts
                       (customer_id, rule_id, rule_version, rule_set, rule_set_version, content_hash, severity,
                        evidence, raised_on, run_id, last_seen_on)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (customer_id, rule.id, rule.version, rule_set.name, rule_set.version, rule_set.content_hash,
                 hit["severity"], json.dumps({"as_of_date": as_of.isoformat(), "rule": rule.description,
                                              **hit["evidence"]}, default=str), as_of, run_id, as_of),
            )
            raised += 1
            by_severity[hit["severity"]] = by_severity.get(hit["severity"], 0) + 1
    # rules no longer in the policy cannot clear: their live alerts are closed with the reason
    retired = conn.execute(
        """update scoring.alerts
           set status = 'resolved', resolved_by = 'system', resolved_at = now(), resolved_on = %s,
               resolution = 'rule no longer in policy ' || %s, cleared_on = %s
           where status <> 'resolved' and not (rule_id = any(%s)) returning alert_id""",
        (as_of, rule_set.label, as_of, [o.rule.id for o in evaluation.outcomes]),
    ).fetchall()
    resolved += len(retired)
    conn.execute(
        """insert into scoring.alert_runs
               (as_of_date, rule_set, content_hash, raised, resolved, suppressed_rules, run_id)
           values (%s, %s, %s, %s, %s, %s, %s)
           on conflict (as_of_date) do update set rule_set = excluded.rule_set, content_hash = excluded.content_hash,
               raised = scoring.alert_runs.raised + excluded.raised,
               resolved = scoring.alert_runs.resolved + excluded.resolved,
               suppressed_rules = excluded.suppressed_rules, run_id = excluded.run_id, evaluated_at = now()""",
        (as_of, rule_set.name, rule_set.content_hash, raised, resolved, json.dumps(suppressed), run_id),
    )
    return AlertSummary(as_of, raised, kept, resolved, dict(sorted(by_severity.items())), suppressed)


def list_alerts(conn, *, status: str | None = None, severity: str | None = None, customer_id: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Alerts, most severe and newest first. ``severity`` filters on that level exactly."""
    ensure_alerts(conn)
    if status is not None and status not in STATUSES:
        raise AlertError(f"status must be one of {', '.join(STATUSES)}")
    if severity is not None and severity not in SEVERITY_ORDER:
        raise AlertError(f"severity must be one of {', '.join(SEVERITY_ORDER)}")
    cursor = conn.execute(
        """select alert_id, customer_id, rule_id, rule_version, rule_set_version, severity, status, raised_on,
                  last_seen_on, evidence, acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution
           from scoring.alerts
           where (%(status)s::text is null or status = %(status)s)
             and (%(severity)s::text is null or severity = %(severity)s)
             and (%(customer)s::text is null or customer_id = %(customer)s)
           order by case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end,
                    raised_on desc, alert_id desc
           limit %(limit)s""",
        {"status": status, "severity": severity, "customer": customer_id, "limit": limit},
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def latest_suppression(conn) -> tuple[date | None, dict[str, str]]:
    """The last evaluated business date and the rules suppressed on it (stale sources)."""
    ensure_alerts(conn)
    row = conn.execute("select as_of_date, suppressed_rules from scoring.alert_runs "
                       "order by as_of_date desc limit 1").fetchone()
    return (row[0], row[1]) if row else (None, {})


def acknowledge(conn, alert_id: int, *, by: str, note: str | None = None) -> dict[str, Any]:
    """open -> acknowledged."""
    if not by or not by.strip():
        raise AlertError("say who acknowledges (--by)")
    ensure_alerts(conn)
    current = _status(conn, alert_id)
    if current != "open":
        raise AlertError(f"alert {alert_id} is {current}; only an open alert can be acknowledged")
    conn.execute(
        """update scoring.alerts set status = 'acknowledged', acknowledged_by = %s, acknowledged_at = now(),
               acknowledgement_note = %s
           where alert_id = %s""",
        (by.strip(), note, alert_id),
    )
    return _one(conn, alert_id)


def resolve(conn, alert_id: int, *, by: str, note: str | None = None) -> dict[str, Any]:
    """open or acknowledged -> resolved, by a person (with an optional note)."""
    if not by or not by.strip():
        raise AlertError("say who resolves (--by)")
    if by.strip().lower() == "system":
        raise AlertError("'system' is reserved for alerts resolved when their condition clears")
    ensure_alerts(conn)
    current = _status(conn, alert_id)
    if current == "resolved":
        raise AlertError(f"alert {alert_id} is already resolved")
    conn.execute(
        """update scoring.alerts set status = 'resolved', resolved_by = %s, resolved_at = now(),
               resolution = coalesce(%s, 'resolved by ' || %s)
           where alert_id = %s""",
        (by.strip(), note, by.strip(), alert_id),
    )
    return _one(conn, alert_id)


def _status(conn, alert_id: int) -> str:
    row = conn.execute("select status from scoring.alerts where alert_id = %s for update", (alert_id,)).fetchone()
    if row is None:
        raise AlertError(f"no alert {alert_id}")
    return row[0]


def _one(conn, alert_id: int) -> dict[str, Any]:
    cursor = conn.execute("select * from scoring.alerts where alert_id = %s", (alert_id,))
    columns = [c.name for c in cursor.description]
    return dict(zip(columns, cursor.fetchone(), strict=True))
