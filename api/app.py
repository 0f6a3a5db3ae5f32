"""The HTTP service: credit status for order entry, customer lookup, alerts, the portfolio summary.

Every endpoint but ``/health`` needs a bearer token (``credit-dw api token create``) with the scope it
names. Every call, refused ones included, is recorded in ``api.request_log`` (queued before the answer
is sent, written in batches: ``api.request_log``), and every change (acknowledge, resolve) in
``audit.events``, in the transaction that makes it. Reads come from the last publication
(``api.published``) and the live scoring tables, as the ``api`` database role. Answers: 401 without a
valid token, 403 without the scope, 404 for an unknown customer or alert, 409 for a move the alert
cannot make, 422 for malformed parameters, 503 when the warehouse cannot answer.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import models
from api.db import API_ROLE, async_pool, open_pool
from api.published import PublishedView, Snapshot, fields_of, search_form
from api.request_log import RequestLogWriter
from api.tokens import Client, Verifier

log = logging.getLogger(__name__)

# Keys that would carry personal data (blind indexes, masks, ciphertext) never leave through the API.
PERSONAL_DATA_KEY = re.compile(r"(_hash|_masked|_encrypted)$")
SEVERITY_ORDER = "case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end"
ALERT_COLUMNS = ("alert_id, customer_id, rule_id, rule_version, severity, status, raised_on, last_seen_on, evidence, "
                 "acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution")
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
MAX_BIGINT = 2**63 - 1

# Routes without parameters still refuse unknown query parameters, in the validation error's shape.
UNKNOWN_PARAMETER = {422: {"description": "Unknown query parameter", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "No token, or not a valid one."},
    403: {"model": models.Problem, "description": "The token lacks the scope."},
    503: {"model": models.Problem, "description": "The warehouse cannot answer now."},
}


class Service:
    """What the endpoints share: the pools (as the api role), the token verifier, the publication in force."""

    def __init__(self, database_url: str | None = None, *, role: str | None = API_ROLE, check_every: float = 2.0,
                 pool_size: int = 10, token_ttl: float = 5.0):
        from credit_dw import warehouse

        url = database_url or warehouse.database_url()
        self.async_pool = async_pool(url, role=role, max_size=pool_size)  # requests, on the event loop
        self.pool = open_pool(url, role=role)  # threads: publication loads, alert moves
        self.view = PublishedView(self.async_pool, self.pool, check_every=check_every)
        self.verify = Verifier(ttl=token_ttl)
        self.request_log = RequestLogWriter(self.async_pool)
        self.rule_descriptions = _policy_descriptions()

    async def start(self) -> None:
        await self.async_pool.open(wait=False)
        self.request_log.start()

    async def close(self) -> None:
        await self.request_log.stop()
        await self.async_pool.close()
        self.pool.close()


def _policy_descriptions() -> dict[str, str]:
    try:
        from scoring.rules.policy import DEFAULT_POLICY, load_policy

        return {rule.id: rule.description for rule in load_policy(DEFAULT_POLICY).customer_rules}
    except Exception:  # descriptions are a courtesy; the hits stand without them
        log.warning("could not read the bundled credit policy for rule descriptions", exc_info=True)
        return {}


class RequestLog:
    """ASGI middleware: one api.request_log row per call, refused ones included, queued before the answer is sent."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        logged = False

        def record(status: int) -> None:
            nonlocal logged
            service: Service | None = getattr(scope["app"].state, "service", None) if "app" in scope else None
            if logged or service is None:
                return
            logged = True
            query = scope.get("query_string", b"").decode("latin-1")[:2000] or None
            client = scope.get("client")
            entry = (state.get("token_id"), state.get("client"), scope["method"], scope["path"][:500], query, status,
                     round((time.perf_counter() - started) * 1000, 3), f"{client[0]}" if client else None)
            service.request_log.add(entry)

        async def send_logged(message):
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:
            record(500)
            raise


bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `credit-dw api token create`: `Authorization: Bearer cdw_…`.")


def authorised(*scopes: str):
    """A dependency: the calling client, which must hold one of ``scopes``."""

    async def dependency(request: Request,
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Client:
        if credentials is None:
            raise HTTPException(401, "missing bearer token: send Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        service: Service = request.app.state.service
        client = await service.verify(service.async_pool, credentials.credentials)
        if client is None:
            raise HTTPException(401, "invalid, expired or revoked token", headers={"WWW-Authenticate": "Bearer"})
        request.state.token_id, request.state.client = client.token_id, client.name
        if not client.scopes & set(scopes):
            raise HTTPException(403, f"token of {client.name!r} lacks the scope {' or '.join(scopes)}")
        await known_query_parameters(request)
        return client

    return dependency


AlertId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="scoring.alerts.alert_id")]
ReadStatus = Annotated[Client, Depends(authorised("read-status"))]
ReadAlerts = Annotated[Client, Depends(authorised("read-status", "manage-alerts"))]
ManageAlerts = Annotated[Client, Depends(authorised("manage-alerts"))]


async def known_query_parameters(request: Request) -> None:
    """Checked on every route (after the token): a query parameter the operation does not define is an error
    (422), not silently ignored (``?statuss=open`` would otherwise list every alert); so is one given twice
    (every parameter takes one value, and ``?name=a&name=b`` would otherwise be searched as ``b``)."""
    from fastapi.dependencies.utils import get_flat_dependant

    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    allowed = _QUERY_PARAMETERS.get(route.path)
    if allowed is None:
        allowed = _QUERY_PARAMETERS[route.path] = {p.alias for p in get_flat_dependant(route.dependant).query_params}
    params = request.query_params
    problems = [
        {"type": "extra_forbidden", "loc": ("query", key), "input": params[key],
         "msg": f"unknown query parameter; this operation takes {', '.join(sorted(allowed)) or 'none'}"}
        for key in params if key not in allowed]
    problems += [{"type": "repeated", "loc": ("query", key), "input": params.getlist(key),
                  "msg": "give this query parameter once"}
                 for key in params if key in allowed and len(params.getlist(key)) > 1]
    if problems:
        raise RequestValidationError(problems)


_QUERY_PARAMETERS: dict[str, set[str]] = {}


def _service(request: Request) -> Service:
    return request.app.state.service


def _publication(snapshot: Snapshot) -> models.Publication:
    return models.Publication(business_date=snapshot.business_date, run_id=snapshot.run_id,
                              published_at=snapshot.published_at)


def _without_personal_data(evidence: Any) -> dict[str, Any]:
    if not isinstance(evidence, dict):
        return {}
    return {key: value for key, value in evidence.items() if not PERSONAL_DATA_KEY.search(str(key))}


def _alert(row: dict[str, Any], snapshot: Snapshot) -> models.AlertOut:
    return models.AlertOut(**{**row, "evidence": _without_personal_data(row["evidence"]),
                              "master_customer_id": snapshot.master_id_of(row["customer_id"]),
                              "customer_name": snapshot.name_of(row["customer_id"])})


async def _rows_async(cursor) -> list[dict[str, Any]]:
    rows = await cursor.fetchall()
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _day(snapshot: Snapshot) -> date | None:
    return snapshot.business_date or snapshot.exposure_date


def create_app(database_url: str | None = None, *, role: str | None = API_ROLE, check_every: float = 2.0,
               pool_size: int = 10, token_ttl: float = 5.0) -> FastAPI:
    """The application; ``credit-dw api`` serves it (uvicorn factory ``api.app:create_app``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await app.state.service.start()
        try:
            yield
        finally:
            await app.state.service.close()

    app = FastAPI(
        title="credit-dw API",
        version="1.0.0",
        description=__doc__,
        lifespan=lifespan,
    )
    app.state.service = Service(database_url, role=role, check_every=check_every, pool_size=pool_size,
                                token_ttl=token_ttl)
    app.add_middleware(RequestLog)
    _exception_handlers(app)

    @app.get("/customers/{customer_id}/credit-status", response_model=models.CreditStatus, tags=["credit"],
             responses={**PROBLEMS, 404: {"model": models.Problem, "description": "No such customer."}})
    async def credit_status(
        request: Request, client: ReadStatus,
        customer_id: Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, max_length=64, description=(
            "The customer master's id (marts.dim_customers.customer_id) or an ERP customer number."))],
    ) -> models.CreditStatus:
        """Exposure, limit, utilisation, headroom, grade, open alerts and blacklist status of one customer, as of
        the last published business date."""
        service = _service(request)
        snapshot = await service.view.current()
        found = snapshot.keys_of(customer_id)
        if found is None:
            raise HTTPException(404, f"no customer {customer_id!r}: neither a customer id of the customer master "
                                     "nor an ERP customer number linked to one, nor in the published exposures")
        master, keys = found
        accounts = [snapshot.exposures[key] for key in keys if key in snapshot.exposures]
        live = await _live_status(service, snapshot, keys)
        currencies = {a.currency for a in accounts}
        single = len(currencies) == 1

        def total(name: str) -> float | None:
            values = [getattr(a, name) for a in accounts]
            return round(sum(values), 2) if single and values and None not in values else None

        exposure, limit = total("exposure"), total("credit_limit")
        headroom = round(limit - exposure, 2) if exposure is not None and limit is not None else None
        utilisation = round(exposure / limit, 4) if exposure is not None and limit else None
        return models.CreditStatus(
            customer_id=master.customer_id if master else keys[0],
            requested_id=customer_id,
            customer_name=master.customer_name if master else snapshot.name_of(keys[0]),
            erp_customer_ids=list(master.erp_customer_ids) if master else [k for k in keys if k in snapshot.exposures],
            as_of_date=snapshot.exposure_date if accounts else _day(snapshot),
            currency=next(iter(currencies)) if single else None,
            exposure=exposure, credit_limit=limit, utilisation=utilisation, headroom=headroom,
            is_over_limit=(exposure > limit) if exposure is not None and limit is not None else None,
            open_receivables=total("open_receivables"), overdue_amount=total("overdue_amount"),
            grade=live["grade"], graded_on=live["graded_on"], blacklist=live["blacklist"],
            open_alerts=live["alerts"], limit_proposal=live["proposal"],
            accounts=[models.AccountExposure(**fields_of(a)) for a in accounts],
            publication=_publication(snapshot),
        )

    @app.get("/customers", response_model=models.CustomerList, tags=["customers"],
             responses={**PROBLEMS, 503: {"model": models.Problem,
                                          "description": "No customer master published yet, or no warehouse."}})
    async def find_customers(
        request: Request, client: ReadStatus,
        uscc: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{18}$", description=(
            "Unified Social Credit Code (18 characters)."))] = None,
        name: Annotated[str | None, Query(min_length=2, max_length=100, pattern=TEXT_PATTERN, description=(
            "Part of the name; full-width/half-width, case and spaces ignored."))] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> models.CustomerList:
        """Customers of the customer master (marts.dim_customers) by USCC and/or name. Give at least one of
        them: without either the answer is 422."""
        if uscc is None and name is None:
            raise RequestValidationError([{"type": "missing", "loc": ("query", "uscc"), "input": None,
                                           "msg": "give uscc or name (or both)"}])
        snapshot = await _service(request).view.current()
        if snapshot.customers is None:
            raise HTTPException(503, "the customer master (marts.dim_customers) is not published yet")
        candidates = ([snapshot.customers[c] for c in snapshot.by_uscc.get(uscc.upper(), [])] if uscc
                      else list(snapshot.customers.values()))
        if name is not None:
            needle = search_form(name)
            candidates = sorted((c for c in candidates if needle in c.search_name),
                                key=lambda c: (c.search_name != needle, not c.search_name.startswith(needle),
                                               len(c.search_name), c.customer_id))
        customers = [models.CustomerOut(**fields_of(c, leave_out=("search_name",))) for c in candidates[:limit]]
        return models.CustomerList(customers=customers, as_of=_publication(snapshot))

    @app.get("/alerts", response_model=models.AlertList, tags=["alerts"],
             responses={**PROBLEMS, 404: {"model": models.Problem, "description": "No such customer."}})
    async def alerts(
        request: Request, client: ReadAlerts,
        status: models.AlertStatus | None = None,
        severity: models.Severity | None = None,
        customer_id: Annotated[str | None, Query(pattern=CUSTOMER_ID_PATTERN, max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> models.AlertList:
        """Early-warning alerts, most severe and newest first (scope read-status or manage-alerts)."""
        service = _service(request)
        snapshot = await service.view.current()
        keys = None
        if customer_id is not None:
            found = snapshot.keys_of(customer_id)
            if found is None:
                raise HTTPException(404, f"no customer {customer_id!r}")
            keys = found[1]
        if "scoring.alerts" not in snapshot.tables:
            return models.AlertList(alerts=[])
        async with service.async_pool.connection() as conn:
            cursor = await conn.execute(
                f"""select {ALERT_COLUMNS} from scoring.alerts
                    where (%(status)s::text is null or status = %(status)s)
                      and (%(severity)s::text is null or severity = %(severity)s)
                      and (%(keys)s::text[] is null or customer_id = any(%(keys)s))
                    order by {SEVERITY_ORDER}, raised_on desc, alert_id desc limit %(limit)s""",
                {"status": status, "severity": severity, "keys": keys, "limit": limit})
            rows = await _rows_async(cursor)
        return models.AlertList(alerts=[_alert(row, snapshot) for row in rows])

    alert_responses = {**PROBLEMS, 404: {"model": models.Problem, "description": "No such alert."},
                       409: {"model": models.Problem, "description": "The alert cannot make this move."}}

    @app.post("/alerts/{alert_id}/ack", response_model=models.AlertOut, tags=["alerts"], responses=alert_responses)
    async def acknowledge(request: Request, client: ManageAlerts, alert_id: AlertId,
                          move: models.AlertMove | None = None) -> models.AlertOut:
        """open → acknowledged (scope manage-alerts); recorded in audit.events."""
        from scoring.alerts import acknowledge as move_alert

        return await _move_alert(request, client, alert_id, move, move_alert, "api_alert_acknowledge")

    @app.post("/alerts/{alert_id}/resolve", response_model=models.AlertOut, tags=["alerts"],
              responses=alert_responses)
    async def resolve(request: Request, client: ManageAlerts, alert_id: AlertId,
                      move: models.AlertMove | None = None) -> models.AlertOut:
        """open or acknowledged → resolved (scope manage-alerts); recorded in audit.events."""
        from scoring.alerts import resolve as move_alert

        return await _move_alert(request, client, alert_id, move, move_alert, "api_alert_resolve")

    @app.get("/portfolio/summary", response_model=models.PortfolioSummary, tags=["portfolio"],
             responses={**PROBLEMS, **UNKNOWN_PARAMETER})
    async def portfolio_summary(request: Request, client: ReadStatus) -> models.PortfolioSummary:
        """Headline figures of the last published run: exposure, limits and breaches per currency, live alerts by
        severity, blacklisted customers."""
        service = _service(request)
        snapshot = await service.view.current()
        currencies = _currency_totals(snapshot)
        open_alerts: dict[str, int] = {}
        blacklisted = evaluated_on = None
        async with service.async_pool.connection() as conn, conn.pipeline():
            alert_cursor = blacklist_cursor = None
            if "scoring.alerts" in snapshot.tables:
                alert_cursor = await conn.execute(
                    "select severity, count(*) from scoring.alerts where status <> 'resolved' group by severity")
            if {"scoring.rule_hits", "scoring.rule_evaluations"} <= snapshot.tables:
                blacklist_cursor = await conn.execute(
                    f"""with evaluated as ({_BLACKLIST_EVALUATED})
                        select evaluated.day, (select count(distinct customer_id) from scoring.rule_hits h
                                               where h.as_of_date = evaluated.day and not h.is_shadow
                                                 and h.rule_kind = 'blacklist')
                        from evaluated""", {"day": _day(snapshot)})
            if alert_cursor is not None:
                open_alerts = {severity: count for severity, count in await alert_cursor.fetchall()}
            if blacklist_cursor is not None:
                evaluated_on, blacklisted = await blacklist_cursor.fetchone()
        return models.PortfolioSummary(
            publication=_publication(snapshot), as_of_date=snapshot.exposure_date,
            customers=len(snapshot.exposures), customers_over_limit=sum(c.customers_over_limit for c in currencies),
            by_currency=currencies, open_alerts=open_alerts,
            blacklisted_customers=blacklisted if evaluated_on else None, blacklist_evaluated_on=evaluated_on)

    @app.get("/health", response_model=models.Health, tags=["service"],
             responses={503: PROBLEMS[503], **UNKNOWN_PARAMETER}, dependencies=[Depends(known_query_parameters)])
    async def health(request: Request) -> models.Health:
        """Liveness and the publication being served (no token needed)."""
        return models.Health(status="ok", publication=_publication(await _service(request).view.current()))

    return app


def _currency_totals(snapshot: Snapshot) -> list[models.CurrencyTotals]:
    """Exposure, limits and breaches per currency over the publication's rows (once per snapshot)."""
    cached = snapshot.derived.get("currency_totals")
    if cached is not None:
        return cached
    by_currency: dict[str | None, dict[str, Any]] = {}
    for row in snapshot.exposures.values():
        totals = by_currency.setdefault(row.currency, {
            "currency": row.currency, "customers": 0, "exposure": 0.0, "credit_limit": 0.0, "open_receivables": 0.0,
            "overdue_amount": 0.0, "customers_over_limit": 0})
        totals["customers"] += 1
        totals["customers_over_limit"] += bool(row.is_over_limit)
        for name in ("exposure", "credit_limit", "open_receivables", "overdue_amount"):
            totals[name] += getattr(row, name) or 0.0
    currencies = []
    for totals in sorted(by_currency.values(), key=lambda t: (-t["exposure"], str(t["currency"]))):
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in totals.items()}
        currencies.append(models.CurrencyTotals(
            **rounded, headroom=round(totals["credit_limit"] - totals["exposure"], 2),
            utilisation=round(totals["exposure"] / totals["credit_limit"], 4) if totals["credit_limit"] else None))
    snapshot.derived["currency_totals"] = currencies
    return currencies


# The latest business date on which the active policy's blacklist rules were evaluated, up to the day served.
_BLACKLIST_EVALUATED = """select max(as_of_date) as day from scoring.rule_evaluations
    where not is_shadow and rule_kind = 'blacklist' and status = 'evaluated'
      and (%(day)s::date is null or as_of_date <= %(day)s)"""


_LIVE_PARTS = {
    # (tables needed, the select giving one JSON value)
    "alerts": (("scoring.alerts",), f"""(select coalesce(json_agg(a), '[]') from (
        select {ALERT_COLUMNS} from scoring.alerts where customer_id = any(%(keys)s) and status <> 'resolved'
        order by {SEVERITY_ORDER}, raised_on desc, alert_id desc limit 100) a)"""),
    "blacklist": (("scoring.rule_hits", "scoring.rule_evaluations"), f"""(select json_build_object(
        'evaluated_on', e.day,
        'hits', (select coalesce(json_agg(json_build_object('rule_id', h.rule_id, 'rule_version', h.rule_version,
                                                          'customer_key', h.customer_id)
                                          order by h.rule_id, h.customer_id), '[]')
                 from scoring.rule_hits h
                 where h.as_of_date = e.day and h.customer_id = any(%(keys)s) and not h.is_shadow
                   and h.rule_kind = 'blacklist'))
        from ({_BLACKLIST_EVALUATED}) e)"""),
    "grade": (("scoring.customer_scores",), """(select row_to_json(g) from (
        select grade, as_of_date from scoring.customer_scores
        where customer_id = any(%(keys)s) and not is_shadow and (%(day)s::date is null or as_of_date <= %(day)s)
        order by as_of_date desc, grade desc limit 1) g)"""),
    "proposal": (("scoring.limit_proposals",), """(select row_to_json(p) from (
        select as_of_date, customer_id as customer_key, currency, current_limit, proposed_limit, change, reason
        from scoring.limit_proposals
        where not is_shadow and customer_id = any(%(keys)s)
          and as_of_date = (select max(as_of_date) from scoring.limit_proposals
                            where not is_shadow and (%(day)s::date is null or as_of_date <= %(day)s))
        order by customer_id limit 1) p)"""),
}


def _live_query(tables: frozenset[str]) -> tuple[list[str], str] | None:
    parts = [(name, select) for name, (needed, select) in _LIVE_PARTS.items() if set(needed) <= tables]
    if not parts:
        return None
    return [name for name, _ in parts], "select " + ",\n       ".join(select for _, select in parts)


async def _live_status(service: Service, snapshot: Snapshot, keys: list[str]) -> dict[str, Any]:
    """Alerts, blacklist hits, grade and limit proposal of the customer's keys: one statement, one round trip
    (the parts whose tables exist)."""
    result: dict[str, Any] = {"alerts": [], "grade": None, "graded_on": None, "proposal": None,
                              "blacklist": models.Blacklist(status="unknown", evaluated_on=None, hits=[])}
    query = snapshot.derived.get("live_query")
    if query is None:
        query = snapshot.derived["live_query"] = _live_query(snapshot.tables)
    if query is None:
        return result
    names, text = query
    async with service.async_pool.connection() as conn:
        cursor = await conn.execute(text, {"keys": keys, "day": _day(snapshot)})
        values = dict(zip(names, await cursor.fetchone(), strict=True))
    if values.get("alerts"):
        result["alerts"] = [_alert(row, snapshot) for row in values["alerts"]]
    blacklist = values.get("blacklist")
    if blacklist and blacklist["evaluated_on"]:
        hits = [models.BlacklistHit(**hit, description=service.rule_descriptions.get(hit["rule_id"]))
                for hit in blacklist["hits"]]
        result["blacklist"] = models.Blacklist(status="blacklisted" if hits else "clear",
                                               evaluated_on=blacklist["evaluated_on"], hits=hits)
    if values.get("grade"):
        result["grade"], result["graded_on"] = values["grade"]["grade"], values["grade"]["as_of_date"]
    if values.get("proposal"):
        result["proposal"] = models.LimitProposal(**values["proposal"])
    return result


async def _move_alert(request: Request, client: Client, alert_id: int, move: models.AlertMove | None, action,
                      audit_action: str) -> models.AlertOut:
    """The move through scoring.alerts' own function and its audit record, in one transaction, in a thread
    (they are synchronous)."""
    service = _service(request)
    snapshot = await service.view.current()
    if "scoring.alerts" not in snapshot.tables:
        raise HTTPException(404, f"no alert {alert_id}: no alerts have been raised yet")
    move = move or models.AlertMove()
    who = f"{move.by} (api: {client.name})" if move.by else f"api: {client.name}"
    row = await anyio.to_thread.run_sync(_move_in_transaction, service, client, alert_id, who, move.note, action,
                                         audit_action)
    return _alert({key: row[key] for key in ALERT_COLUMNS.split(", ")}, snapshot)


def _move_in_transaction(service: Service, client: Client, alert_id: int, who: str, note: str | None, action,
                         audit_action: str) -> dict[str, Any]:
    from credit_dw import audit
    from scoring.alerts import AlertError

    with service.pool.connection() as conn, conn.transaction():
        conn.execute("set local synchronous_commit = on")  # a change and its audit record are durable when answered
        if conn.execute("select 1 from scoring.alerts where alert_id = %s", (alert_id,)).fetchone() is None:
            raise HTTPException(404, f"no alert {alert_id}")
        try:
            row = action(conn, alert_id, by=who, note=note)
        except AlertError as error:
            raise HTTPException(409, str(error)) from None
        audit.record(conn, audit_action, f"scoring.alerts/{alert_id}",
                     {"client": client.name, "token_id": client.token_id, "by": who, "note": note,
                      "status": row["status"]})
    return row


def _exception_handlers(app: FastAPI) -> None:
    from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
    from psycopg_pool import PoolTimeout
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def problem(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def unreadable_body(request: Request, error: StarletteHTTPException):
        if error.status_code == 400:  # FastAPI's "error parsing the body" (not UTF-8): malformed input, 422
            return await request_validation_exception_handler(request, RequestValidationError(
                [{"type": "body_unreadable", "loc": ("body",), "msg": str(error.detail), "input": None}]))
        return await http_exception_handler(request, error)

    @app.exception_handler(PoolTimeout)
    async def busy(request: Request, error: PoolTimeout):
        return problem(503, "the warehouse connection pool is exhausted; retry shortly")

    @app.exception_handler(psycopg.Error)
    async def warehouse_error(request: Request, error: psycopg.Error):
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, psycopg.errors.InsufficientPrivilege):
            log.error("api role refused: %s", first_line)
            return problem(503, f"the api database role may not read this ({first_line}); "
                                "run `credit-dw access apply`")
        if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
            request.app.state.service.view.invalidate()
            return problem(503, f"the published tables changed or are not built yet ({first_line}); retry")
        if isinstance(error, psycopg.OperationalError):
            return problem(503, f"the warehouse is unavailable ({type(error).__name__})")
        log.exception("warehouse error", exc_info=error)
        return problem(503, f"the warehouse could not answer ({type(error).__name__})")
