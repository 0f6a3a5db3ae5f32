"""The customer event timeline: what happened to a customer, in date order, in one table.

``scoring.customer_timeline`` (customer_id, event_date, event_type, summary, detail, source,
event_key) holds:

- ``limit_breach`` / ``limit_breach_cleared``: exposure went over / back under the limit (exposure mart);
- ``overdue``: an open invoice became 1, 31, 61, 91 or 181 days past due (open-items snapshot of the day);
- ``limit_change``: a credit limit change took effect (ERP limit history);
- ``bureau_event``: an adverse bureau event, linked to the customer by USCC;
- ``grade_change``: the champion model's grade changed (scoring.customer_scores);
- ``limit_proposal``: the policy proposed a different limit;
- ``alert_raised`` / ``alert_acknowledged`` / ``alert_resolved``: from scoring.alerts.

It is built here and not in dbt because half of it comes from the scoring stage, which runs after
the marts. Mart-derived events are rebuilt per business date (``build_timeline``); alert events are
refreshed from scoring.alerts on every build and after every acknowledgement or resolution.
Relations not built yet are skipped.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

TIMELINE_DDL = """
create schema if not exists scoring;
create table if not exists scoring.customer_timeline (
    customer_id text not null,
    event_date date not null,
    event_type text not null,
    summary text not null,
    detail jsonb not null default '{}'::jsonb,
    source text not null,
    event_key text not null,
    built_at timestamptz not null default now(),
    primary key (customer_id, event_type, event_key)
);
create index if not exists customer_timeline_date on scoring.customer_timeline (customer_id, event_date);
"""

# (event types, relations required, insert ... select for one business date %(as_of)s)
_DATED_EVENTS: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (("limit_breach", "limit_breach_cleared"), ("marts.fct_credit_exposure_daily",), """
        select customer_id, as_of_date,
               case when is_over_limit then 'limit_breach' else 'limit_breach_cleared' end,
               case when is_over_limit
                    then 'exposure ' || exposure || ' over limit ' || credit_limit || ' ' || coalesce(currency, '')
                    else 'exposure ' || exposure || ' back within limit ' || credit_limit end,
               jsonb_build_object('exposure', exposure, 'credit_limit', credit_limit, 'utilisation', utilisation),
               'marts.fct_credit_exposure_daily', as_of_date::text
        from (
            select *, lag(is_over_limit) over (partition by customer_id order by as_of_date) as was_over
            from marts.fct_credit_exposure_daily
            where as_of_date between %(as_of)s - 40 and %(as_of)s
        ) as days
        where as_of_date = %(as_of)s and coalesce(is_over_limit, false) <> coalesce(was_over, false)
    """),
    (("overdue",), ("marts.fct_ar_open_items_snapshots",), """
        select customer_id, as_of_date, 'overdue',
               'invoice ' || invoice_id || ' ' || days_past_due || ' days past due, open ' || open_amount || ' '
                   || currency,
               jsonb_build_object('invoice_id', invoice_id, 'due_date', due_date, 'days_past_due', days_past_due,
                                  'open_amount', open_amount, 'currency', currency),
               'marts.fct_ar_open_items_snapshots', invoice_id || ':' || days_past_due
        from marts.fct_ar_open_items_snapshots
        where as_of_date = %(as_of)s and days_past_due in (1, 31, 61, 91, 181)
    """),
    (("limit_change",), ("staging.stg_erp__credit_limit_changes",), """
        select customer_id, valid_from, 'limit_change',
               'credit limit ' || coalesce(previous_limit::text, '-') || ' -> ' || credit_limit || ' '
                   || coalesce(credit_limit_currency, '') || coalesce(' (' || change_reason || ')', ''),
               jsonb_build_object('previous_limit', previous_limit, 'credit_limit', credit_limit,
                                  'changed_by', changed_by, 'reason', change_reason),
               'erp', valid_from::text || ':' || credit_limit::text
        from staging.stg_erp__credit_limit_changes where valid_from = %(as_of)s
    """),
    (("bureau_event",), ("staging.stg_bureau__events", "staging.stg_erp__customers"), """
        select customers.customer_id, events.event_date, 'bureau_event',
               events.event_type || coalesce(' ' || events.event_amount::text, ''),
               jsonb_build_object('event_type', events.event_type, 'amount', events.event_amount,
                                  'description', events.event_description),
               'bureau', events.event_id
        from staging.stg_bureau__events as events
        inner join staging.stg_erp__customers as customers on customers.uscc = events.uscc
        where events.event_date = %(as_of)s
    """),
    (("grade_change",), ("scoring.customer_scores",), """
        select customer_id, as_of_date, 'grade_change',
               'grade ' || coalesce(before::text, 'none') || ' -> ' || grade::text,
               jsonb_build_object('grade', grade, 'previous_grade', before, 'pd', pd, 'model_version', model_version),
               'scoring.customer_scores', as_of_date::text
        from (
            select customer_id, as_of_date, grade, pd, model_version,
                   lag(grade) over (partition by customer_id order by as_of_date) as before
            from scoring.customer_scores where not is_shadow and as_of_date <= %(as_of)s
        ) as scores
        where as_of_date = %(as_of)s and before is distinct from grade and before is not null
    """),
    (("limit_proposal",), ("scoring.limit_proposals",), """
        select customer_id, as_of_date, 'limit_proposal', reason,
               jsonb_build_object('current_limit', current_limit, 'proposed_limit', proposed_limit,
                                  'rule_set_version', rule_set_version),
               'scoring.limit_proposals', as_of_date::text
        from scoring.limit_proposals
        where as_of_date = %(as_of)s and not is_shadow and change <> 0
    """),
]

_ALERT_EVENTS = """
    select customer_id, raised_on, 'alert_raised', rule_id || ' (' || severity || ')',
           jsonb_build_object('alert_id', alert_id, 'rule_version', rule_version, 'evidence', evidence),
           'scoring.alerts', alert_id::text
    from scoring.alerts
    union all
    select customer_id, (acknowledged_at at time zone %(tz)s)::date, 'alert_acknowledged',
           rule_id || ' acknowledged by ' || acknowledged_by,
           jsonb_build_object('alert_id', alert_id), 'scoring.alerts', alert_id::text
    from scoring.alerts where acknowledged_at is not null
    union all
    select customer_id, coalesce(resolved_on, (resolved_at at time zone %(tz)s)::date), 'alert_resolved',
           rule_id || ' resolved by ' || resolved_by || coalesce(': ' || resolution, ''),
           jsonb_build_object('alert_id', alert_id), 'scoring.alerts', alert_id::text
    from scoring.alerts where resolved_at is not null
"""
_COLUMNS = "(customer_id, event_date, event_type, summary, detail, source, event_key)"


def ensure_timeline(conn) -> None:
    conn.execute(TIMELINE_DDL)


def _exists(conn, relation: str) -> bool:
    return conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is not None


def _timezone() -> str:
    from credit_dw.settings import get_settings

    return get_settings().timezone


def refresh_alert_events(conn) -> int:
    ensure_timeline(conn)
    if not _exists(conn, "scoring.alerts"):
        return 0
    conn.execute("delete from scoring.customer_timeline where source = 'scoring.alerts'")
    return conn.execute(f"insert into scoring.customer_timeline {_COLUMNS} {_ALERT_EVENTS}",
                        {"tz": _timezone()}).rowcount


def build_timeline(conn, as_of_date: date) -> dict[str, Any]:
    """Rebuild the events dated ``as_of_date`` (and every alert event)."""
    ensure_timeline(conn)
    counts: dict[str, Any] = {}
    for event_types, relations, select in _DATED_EVENTS:
        missing = [r for r in relations if not _exists(conn, r)]
        if missing:
            counts[event_types[0]] = f"skipped: {', '.join(missing)} not built yet"
            continue
        try:
            # a savepoint each: a mart whose columns changed skips its events, not the whole build
            with conn.transaction():
                conn.execute("delete from scoring.customer_timeline where event_date = %s and event_type = any(%s)",
                             (as_of_date, list(event_types)))
                counts[event_types[0]] = conn.execute(
                    f"insert into scoring.customer_timeline {_COLUMNS} {select} on conflict do nothing",
                    {"as_of": as_of_date},
                ).rowcount
        except psycopg.errors.UndefinedColumn as error:
            counts[event_types[0]] = f"skipped: {str(error).splitlines()[0]}"
    counts["alerts"] = refresh_alert_events(conn)
    return counts


def timeline(conn, customer_id: str, *, since: date | None = None) -> list[dict[str, Any]]:
    ensure_timeline(conn)
    cursor = conn.execute(
        """select event_date, event_type, summary, detail, source from scoring.customer_timeline
           where customer_id = %s and (%s::date is null or event_date >= %s)
           order by event_date, event_type, event_key""",
        (customer_id, since, since),
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
