"""Operational notifications: a failed ``credit_nightly`` task and new critical alerts, by e-mail
(Airflow's SMTP provider) and to one webhook, both configured in the settings.

E-mail goes through ``SmtpHook`` on the Airflow connection ``credit_dw_smtp``. When
``CREDIT_DW_SMTP_HOST`` is set that connection is built from the settings (as an
``AIRFLOW_CONN_CREDIT_DW_SMTP`` variable, which Airflow reads before its metadata database);
otherwise the connection Airflow has under that name is used. The webhook POST reuses the API's
webhook machinery (``api.webhooks``: HMAC-SHA256 signature header, bounded retries with backoff).

Every attempt is recorded in ``ops.notifications`` with its outcome: a notification that could not
be delivered stays there with its body and error, the dead letter of this channel. Sending never
raises: a broken mail server must not hide why the run failed.
"""

from __future__ import annotations

import html
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from credit_dw import warehouse
from credit_dw.settings import Settings, get_settings

log = logging.getLogger(__name__)

SMTP_CONN_ID = "credit_dw_smtp"
TASK_FAILED = "nightly.task_failed"
CRITICAL_ALERTS = "alerts.critical"
# At most this many alerts are listed in one message; the count says how many there are.
MAX_LISTED_ALERTS = 50
WEBHOOK_ATTEMPTS = 3

NOTIFICATIONS_DDL = """
create schema if not exists ops;
create table if not exists ops.notifications (
    notification_id bigserial primary key,
    event text not null,
    channel text not null check (channel in ('email', 'webhook')),
    target text not null,
    business_date date,
    run_id text,
    subject text not null,
    body text not null,
    status text not null check (status in ('sent', 'failed')),
    attempts integer not null,
    error text,
    sent_at timestamptz not null default now()
);
create table if not exists ops.notified_alerts (
    alert_id bigint primary key,
    notified_at timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class Notification:
    event: str
    subject: str
    # Plain-text lines of the message; the e-mail shows them as HTML, the webhook as JSON.
    lines: list[str]
    payload: dict[str, Any] = field(default_factory=dict)
    business_date: date | None = None
    run_id: str | None = None

    def html(self) -> str:
        return "<pre style=\"font-family: monospace\">" + html.escape("\n".join(self.lines)) + "</pre>"

    def json_body(self) -> bytes:
        document = {"event": self.event, "subject": self.subject, "business_date": self.business_date,
                    "run_id": self.run_id, **self.payload}
        return json.dumps(document, ensure_ascii=False, sort_keys=True, default=str,
                          separators=(",", ":")).encode()


def smtp_connection(settings: Settings | None = None) -> str | None:
    """The Airflow connection (JSON form) built from the CREDIT_DW_SMTP_* settings, or None."""
    settings = settings or get_settings()
    if not settings.smtp_host:
        return None
    return json.dumps({
        "conn_type": "smtp",
        "host": settings.smtp_host,
        "port": settings.smtp_port,
        "login": settings.smtp_user,
        "password": settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        # The provider's defaults are SSL and STARTTLS on, five retries and 30 s per attempt:
        # a night would wait minutes on a dead mail server before saying why it failed.
        "extra": {"from_email": settings.alert_email_from, "disable_ssl": not settings.smtp_ssl,
                  "disable_tls": not settings.smtp_starttls, "retry_limit": 1, "timeout": 10},
    })


def send(notification: Notification, settings: Settings | None = None) -> dict[str, Any]:
    """Deliver ``notification`` on every configured channel; returns what happened per channel."""
    settings = settings or get_settings()
    outcomes: dict[str, Any] = {}
    if settings.alert_email_to:
        outcomes["email"] = _record(notification, "email", ", ".join(settings.alert_email_to),
                                    *_send_email(notification, settings))
    if settings.alert_webhook_url:
        outcomes["webhook"] = _record(notification, "webhook", settings.alert_webhook_url,
                                      *_post_webhook(notification, settings))
    return outcomes


def _send_email(notification: Notification, settings: Settings) -> tuple[int, str | None]:
    try:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        connection = smtp_connection(settings)
        if connection is not None:
            os.environ[f"AIRFLOW_CONN_{SMTP_CONN_ID.upper()}"] = connection
        with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
            hook.send_email_smtp(to=settings.alert_email_to, from_email=settings.alert_email_from,
                                 subject=notification.subject, html_content=notification.html())
        return 1, None
    except Exception as failure:  # any mail problem is recorded, never raised (see the module doc)
        log.warning("notification e-mail %r failed: %s", notification.subject, failure)
        return 1, f"{type(failure).__name__}: {failure}"


def _post_webhook(notification: Notification, settings: Settings) -> tuple[int, str | None]:
    from api.webhooks import SIGNATURE_HEADER, post, sign

    body = notification.json_body()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "credit-dw-notify/1",
               "X-Credit-DW-Event": notification.event, "X-Credit-DW-Delivery": str(uuid.uuid4())}
    if settings.alert_webhook_secret is not None:
        headers[SIGNATURE_HEADER] = sign(settings.alert_webhook_secret.get_secret_value(), body)
    outcome = post(settings.alert_webhook_url, body, headers, max_attempts=WEBHOOK_ATTEMPTS, base_delay=0.5,
                   timeout=10)
    if not outcome.delivered:
        log.warning("notification webhook %s failed after %s attempts: %s", settings.alert_webhook_url,
                    outcome.attempts, outcome.error)
    return outcome.attempts, None if outcome.delivered else outcome.error


def _record(notification: Notification, channel: str, target: str, attempts: int, error: str | None) -> dict:
    status = "failed" if error else "sent"
    try:
        with warehouse.connect() as conn:
            conn.execute("select pg_advisory_xact_lock(hashtext('ops.notifications'))")
            conn.execute(NOTIFICATIONS_DDL)
            conn.execute(
                """insert into ops.notifications (event, channel, target, business_date, run_id, subject, body,
                                                  status, attempts, error)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (notification.event, channel, target, notification.business_date, notification.run_id,
                 notification.subject, notification.json_body().decode(), status, attempts, error),
            )
    except Exception as failure:  # the warehouse may be what failed the task
        log.warning("could not record the %s notification %r: %s", channel, notification.subject, failure)
    return {"status": status, "attempts": attempts, "error": error}


# ---------------------------------------------------------------------------------------------- events


def task_failed(context: dict[str, Any]) -> None:
    """Airflow ``on_failure_callback``: called once a task has failed for good (retries spent)."""
    from credit_dw.pipeline import business_date_for

    ti = context["ti"]
    dag_run = context.get("dag_run")
    params = context.get("params") or {}
    try:
        day: date | None = business_date_for(context.get("logical_date"), params.get("business_date"))
    except ValueError:
        day = None
    reason = str(context.get("exception") or "no exception recorded")
    subject = f"[credit-dw] {ti.dag_id} {day or ''}: task {ti.task_id} failed".replace("  ", " ")
    lines = [
        f"DAG: {ti.dag_id}",
        f"run: {ti.run_id}",
        f"business date: {day}",
        f"task: {ti.task_id} (attempt {ti.try_number} of {(getattr(ti, 'max_tries', 0) or 0) + 1})",
        "",
        "reason:",
        reason,
        "",
        "Marts were not published by this run unless the publish task succeeded: yesterday's stay.",
    ]
    send(Notification(
        event=TASK_FAILED, subject=subject, lines=lines, business_date=day,
        run_id=getattr(dag_run, "run_id", None) or ti.run_id,
        payload={"dag_id": ti.dag_id, "task_id": ti.task_id, "try_number": ti.try_number, "reason": reason},
    ))


def critical_alerts(business_date: date, run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Notify the critical alerts raised on ``business_date`` that no earlier run notified."""
    from api.webhooks import PERSONAL_DATA_SUFFIXES

    settings = settings or get_settings()
    with warehouse.connect() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('ops.notifications'))")
        conn.execute(NOTIFICATIONS_DDL)
        if not conn.execute("select to_regclass('scoring.alerts') is not null").fetchone()[0]:
            return {"alerts": 0}
        cursor = conn.execute(
            """select a.alert_id, a.customer_id, a.rule_id, a.severity, a.raised_on, a.evidence
               from scoring.alerts a
               where a.severity = 'critical' and a.status <> 'resolved' and a.raised_on = %s
                 and not exists (select from ops.notified_alerts n where n.alert_id = a.alert_id)
               order by a.alert_id""",
            (business_date,),
        )
        columns = [c.name for c in cursor.description]
        alerts = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if not alerts:
        return {"alerts": 0}
    for alert in alerts:
        alert["evidence"] = {key: value for key, value in (alert["evidence"] or {}).items()
                             if not str(key).endswith(PERSONAL_DATA_SUFFIXES)}
    listed = alerts[:MAX_LISTED_ALERTS]
    lines = [f"{len(alerts)} new critical alert(s) raised on {business_date}:", ""]
    lines += [f"- {a['customer_id']}: {a['rule_id']} (alert {a['alert_id']})" for a in listed]
    if len(alerts) > len(listed):
        lines.append(f"… and {len(alerts) - len(listed)} more: credit-dw alerts list")
    outcomes = send(Notification(
        event=CRITICAL_ALERTS, subject=f"[credit-dw] {len(alerts)} new critical alert(s) on {business_date}",
        lines=lines, business_date=business_date, run_id=run_id,
        payload={"alerts_total": len(alerts), "alerts": listed},
    ), settings)
    if any(outcome["status"] == "sent" for outcome in outcomes.values()):
        with warehouse.connect() as conn:
            conn.cursor().executemany(
                "insert into ops.notified_alerts (alert_id) values (%s) on conflict do nothing",
                [(alert["alert_id"],) for alert in alerts],
            )
    return {"alerts": len(alerts), **{channel: outcome["status"] for channel, outcome in outcomes.items()}}
