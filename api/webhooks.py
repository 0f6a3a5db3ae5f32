"""Webhooks: the nightly run POSTs new critical alerts to the configured endpoints.

Endpoints live in ``api.webhook_endpoints`` (``credit-dw api webhook add URL`` / ``list`` / ``remove``),
each with a secret kept encrypted (``ingestion.pii.protector``: it must be readable to sign with).

``deliver_new_alerts(as_of_date)`` (the pipeline calls it after the scoring stage) sends each active
endpoint, in one POST, the critical alerts raised on or before ``as_of_date`` and since the endpoint
was added, not resolved, and not yet sent to it. The body is JSON; the signature is HMAC-SHA256 of
the exact body bytes under the endpoint's secret, in ``X-Credit-DW-Signature: sha256=<hex>``
(``verify_signature`` checks one). ``X-Credit-DW-Delivery`` carries a delivery id that stays the same
across retries, so a receiver can drop duplicates.

Failures are retried a bounded number of times with exponential backoff (connection errors, time-outs,
408, 425, 429 and 5xx; other answers are final). A delivery that still fails goes to
``api.webhook_dead_letters`` with its body, attempts and last error (``credit-dw api webhook
dead-letters`` lists them, ``replay`` sends one again). Either way each alert is recorded per endpoint
in ``api.webhook_deliveries``, so a rerun of the night sends nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from api.db import ensure_schema
from credit_dw import audit, warehouse

log = logging.getLogger(__name__)

EVENT = "alerts.critical"
SIGNATURE_HEADER = "X-Credit-DW-Signature"
MAX_ATTEMPTS = 5  # the first try and four retries
BASE_DELAY_SECONDS = 1.0  # then 2, 4, 8
MAX_DELAY_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0
MAX_ALERTS_PER_POST = 500
RETRYABLE_STATUS = {408, 425, 429}
PERSONAL_DATA_SUFFIXES = ("_hash", "_masked", "_encrypted")


class WebhookError(ValueError):
    """An endpoint that cannot be added or found."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    status: int | None
    error: str | None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature over the raw body and compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


# ---------------------------------------------------------------------------------------------- endpoints


def add_endpoint(conn: psycopg.Connection, url: str, secret: str | None = None) -> tuple[dict[str, Any], str]:
    """Register ``url``; returns (its row, the secret, to hand to the receiver once)."""
    from urllib.parse import urlsplit

    from ingestion.pii import protector

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"not an http(s) URL: {url!r}")
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    if len(secret) < 16:
        raise WebhookError("the secret must be at least 16 characters")
    ensure_schema(conn)
    if conn.execute("select 1 from api.webhook_endpoints where url = %s and active", (url,)).fetchone():
        raise WebhookError(f"{url} is already an active endpoint")
    row = conn.execute(
        "insert into api.webhook_endpoints (url, secret_encrypted) values (%s, %s) "
        "returning endpoint_id, url, active, created_at, created_by",
        (url, protector().encrypt(secret)),
    ).fetchone()
    endpoint = dict(zip(("endpoint_id", "url", "active", "created_at", "created_by"), row, strict=True))
    audit.record(conn, "api_webhook_add", f"api.webhook_endpoints/{endpoint['endpoint_id']}", {"url": url})
    return endpoint, secret


def list_endpoints(conn: psycopg.Connection, *, include_removed: bool = False) -> list[dict[str, Any]]:
    ensure_schema(conn)
    cursor = conn.execute(
        """select e.endpoint_id, e.url, e.active, e.created_at, e.created_by, e.removed_at,
                  count(d.alert_id) filter (where d.status = 'delivered') as alerts_delivered,
                  count(d.alert_id) filter (where d.status = 'dead_letter') as alerts_dead_lettered,
                  max(d.finished_at) as last_delivery_at
           from api.webhook_endpoints e left join api.webhook_deliveries d using (endpoint_id)
           where e.active or %s
           group by e.endpoint_id order by e.endpoint_id""", (include_removed,))
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def remove_endpoint(conn: psycopg.Connection, reference: str) -> dict[str, Any]:
    """Deactivate an endpoint named by its id or URL (its deliveries stay on record)."""
    ensure_schema(conn)
    by_id = reference.isdigit()
    row = conn.execute(
        f"""update api.webhook_endpoints set active = false, removed_at = now()
            where active and {'endpoint_id = %s::bigint' if by_id else 'url = %s'}
            returning endpoint_id, url""", (reference,)).fetchone()
    if row is None:
        raise WebhookError(f"no active webhook endpoint {reference}")
    audit.record(conn, "api_webhook_remove", f"api.webhook_endpoints/{row[0]}", {"url": row[1]})
    return {"endpoint_id": row[0], "url": row[1]}


def dead_letters(conn: psycopg.Connection, *, include_replayed: bool = False) -> list[dict[str, Any]]:
    ensure_schema(conn)
    cursor = conn.execute(
        """select dead_letter_id, delivery_id, endpoint_id, url, event, attempts, last_status, last_error, failed_at,
                  replayed_at, jsonb_array_length(body::jsonb -> 'alerts') as alerts
           from api.webhook_dead_letters where replayed_at is null or %s order by dead_letter_id""",
        (include_replayed,))
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------- delivery


def post(url: str, body: bytes, headers: dict[str, str], *, max_attempts: int = MAX_ATTEMPTS,
         base_delay: float = BASE_DELAY_SECONDS, max_delay: float = MAX_DELAY_SECONDS,
         timeout: float = TIMEOUT_SECONDS, sleep=time.sleep) -> Outcome:
    """POST with bounded retries and exponential backoff (base_delay × 2^n, at most max_delay)."""
    opener = urllib.request.build_opener(_NoRedirects)
    status: int | None = None
    error: str | None = None
    for attempt in range(1, max_attempts + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
            if 200 <= status < 300:
                return Outcome(True, attempt, status, None)
            error, retry = f"HTTP {status}", False
        except urllib.error.HTTPError as failure:
            status, error = failure.code, f"HTTP {failure.code} {failure.reason}"
            retry = failure.code in RETRYABLE_STATUS or failure.code >= 500
            failure.close()
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            status, error, retry = None, f"{type(reason).__name__}: {reason}", True
        if not retry or attempt == max_attempts:
            return Outcome(False, attempt, status, error)
        sleep(min(base_delay * 2 ** (attempt - 1), max_delay))
    return Outcome(False, max_attempts, status, error)  # not reached


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new destination: the signed body goes only where configured."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _headers(secret: str, body: bytes, delivery_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "credit-dw-webhooks/1",
            "X-Credit-DW-Event": EVENT, "X-Credit-DW-Delivery": delivery_id, SIGNATURE_HEADER: sign(secret, body)}


def _pending(conn: psycopg.Connection, endpoint_id: int, as_of_date: date) -> list[dict[str, Any]]:
    has_xref = conn.execute("select to_regclass('marts.customer_source_xref') is not null").fetchone()[0]
    has_master = conn.execute("select to_regclass('marts.dim_customers') is not null").fetchone()[0]
    master = ("(select x.customer_id from marts.customer_source_xref x where x.source_system = 'erp' "
              "and x.source_record_id = a.customer_id limit 1)") if has_xref else "null::text"
    if has_master:
        master = f"coalesce((select d.customer_id from marts.dim_customers d where d.customer_id = a.customer_id), " \
                 f"{master})"
    cursor = conn.execute(
        f"""select a.alert_id, a.customer_id, {master} as master_customer_id, a.rule_id, a.rule_version, a.severity,
                   a.status, a.raised_on, a.raised_at, a.evidence
            from scoring.alerts a join api.webhook_endpoints e on e.endpoint_id = %(endpoint)s
            where a.severity = 'critical' and a.status <> 'resolved' and a.raised_on <= %(day)s
              and a.raised_at >= e.created_at
              and not exists (select from api.webhook_deliveries d
                              where d.endpoint_id = %(endpoint)s and d.alert_id = a.alert_id)
            order by a.alert_id limit {MAX_ALERTS_PER_POST}""",
        {"endpoint": endpoint_id, "day": as_of_date})
    columns = [c.name for c in cursor.description]
    alerts = []
    for row in cursor.fetchall():
        alert = dict(zip(columns, row, strict=True))
        alert["evidence"] = {k: v for k, v in (alert["evidence"] or {}).items()
                             if not str(k).endswith(PERSONAL_DATA_SUFFIXES)}
        alerts.append(alert)
    return alerts


def _body(delivery_id: str, as_of_date: date, alerts: list[dict[str, Any]]) -> bytes:
    payload = {"event": EVENT, "delivery_id": delivery_id, "as_of_date": as_of_date.isoformat(), "alerts": alerts}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":")).encode()


def deliver_new_alerts(as_of_date: date, *, database_url: str | None = None, max_attempts: int = MAX_ATTEMPTS,
                       base_delay: float = BASE_DELAY_SECONDS, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    """POST the new critical alerts to every active endpoint; returns what happened, for ops.stage_runs.
    Never raises for a failing receiver (that is what the dead-letter table is for)."""
    from ingestion.pii import protector

    url = database_url or warehouse.database_url()
    summary: dict[str, Any] = {"as_of_date": as_of_date.isoformat(), "endpoints": 0, "alerts_delivered": 0,
                               "alerts_dead_lettered": 0, "deliveries": []}
    with warehouse.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        if not conn.execute("select to_regclass('scoring.alerts') is not null").fetchone()[0]:
            summary["skipped"] = "no scoring.alerts yet"
            return summary
        # one delivery run at a time: a rerun while one is sending would send twice
        if not conn.execute("select pg_try_advisory_lock(hashtext('api.webhooks'))").fetchone()[0]:
            summary["skipped"] = "another webhook delivery is running"
            return summary
        try:
            endpoints = conn.execute("select endpoint_id, url, secret_encrypted from api.webhook_endpoints "
                                     "where active order by endpoint_id").fetchall()
            summary["endpoints"] = len(endpoints)
            for endpoint_id, endpoint_url, secret_encrypted in endpoints:
                secret = protector().decrypt(bytes(secret_encrypted))
                while alerts := _pending(conn, endpoint_id, as_of_date):
                    delivery_id = str(uuid.uuid4())
                    body = _body(delivery_id, as_of_date, alerts)
                    outcome = post(endpoint_url, body, _headers(secret, body, delivery_id), max_attempts=max_attempts,
                                   base_delay=base_delay, timeout=timeout)
                    _record(conn, endpoint_id, endpoint_url, delivery_id, as_of_date, alerts, body, outcome)
                    key = "alerts_delivered" if outcome.delivered else "alerts_dead_lettered"
                    summary[key] += len(alerts)
                    summary["deliveries"].append({
                        "endpoint_id": endpoint_id, "url": endpoint_url, "delivery_id": delivery_id,
                        "alerts": len(alerts), "delivered": outcome.delivered, "attempts": outcome.attempts,
                        "status": outcome.status, "error": outcome.error})
                    if not outcome.delivered:
                        log.warning("webhook %s failed after %s attempts (%s): dead-lettered", endpoint_url,
                                    outcome.attempts, outcome.error)
                        break  # the rest waits for the next run rather than hammering a failing receiver
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('api.webhooks'))")
    return summary


def _record(conn, endpoint_id: int, url: str, delivery_id: str, as_of_date: date, alerts: list[dict[str, Any]],
            body: bytes, outcome: Outcome) -> None:
    with conn.transaction():
        status = "delivered" if outcome.delivered else "dead_letter"
        conn.cursor().executemany(
            """insert into api.webhook_deliveries (endpoint_id, alert_id, delivery_id, as_of_date, status, attempts,
                                                   response_status) values (%s, %s, %s, %s, %s, %s, %s)
               on conflict (endpoint_id, alert_id) do nothing""",
            [(endpoint_id, alert["alert_id"], delivery_id, as_of_date, status, outcome.attempts, outcome.status)
             for alert in alerts])
        if not outcome.delivered:
            conn.execute(
                """insert into api.webhook_dead_letters (delivery_id, endpoint_id, url, event, body, attempts,
                                                         last_status, last_error)
                   values (%s, %s, %s, %s, %s, %s, %s, %s)""",
                (delivery_id, endpoint_id, url, EVENT, body.decode(), outcome.attempts, outcome.status,
                 outcome.error))


def replay(dead_letter_id: int, *, database_url: str | None = None, max_attempts: int = MAX_ATTEMPTS,
           base_delay: float = BASE_DELAY_SECONDS, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    """Send a dead letter's body again (same delivery id, signed with the endpoint's current secret)."""
    from ingestion.pii import protector

    with warehouse.connect(database_url or warehouse.database_url(), autocommit=True) as conn:
        ensure_schema(conn)
        row = conn.execute(
            """select l.delivery_id, l.url, l.body, e.secret_encrypted, l.replayed_at, e.endpoint_id
               from api.webhook_dead_letters l join api.webhook_endpoints e using (endpoint_id)
               where l.dead_letter_id = %s""", (dead_letter_id,)).fetchone()
        if row is None:
            raise WebhookError(f"no dead letter {dead_letter_id}")
        delivery_id, url, body, secret_encrypted, replayed_at, endpoint_id = row
        if replayed_at is not None:
            raise WebhookError(f"dead letter {dead_letter_id} was delivered on replay at {replayed_at}")
        data = body.encode()
        outcome = post(url, data, _headers(protector().decrypt(bytes(secret_encrypted)), data, str(delivery_id)),
                       max_attempts=max_attempts, base_delay=base_delay, timeout=timeout)
        with conn.transaction():
            if outcome.delivered:
                conn.execute("update api.webhook_dead_letters set replayed_at = now() where dead_letter_id = %s",
                             (dead_letter_id,))
                conn.execute("update api.webhook_deliveries set status = 'delivered', finished_at = now(), "
                             "attempts = attempts + %s, response_status = %s where delivery_id = %s",
                             (outcome.attempts, outcome.status, delivery_id))
            else:
                conn.execute("update api.webhook_dead_letters set attempts = attempts + %s, last_status = %s, "
                             "last_error = %s, failed_at = now() where dead_letter_id = %s",
                             (outcome.attempts, outcome.status, outcome.error, dead_letter_id))
            audit.record(conn, "api_webhook_replay", f"api.webhook_dead_letters/{dead_letter_id}",
                         {"endpoint_id": endpoint_id, "delivered": outcome.delivered, "error": outcome.error})
    return outcome
