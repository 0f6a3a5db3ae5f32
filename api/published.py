"""The last publication, held in memory: exposures of its business date and the customer master.

The published marts are plain tables without indexes, rewritten once a night (``publish_marts``), and
``fct_credit_exposure_daily`` has a row per customer and day since the first load: a per-request
query would scan it. Instead each server process reads the publication's rows once, in one
repeatable-read transaction (so the business date and the rows agree), and keeps them as
dictionaries; it looks for a newer publication (``ops.publications``) at most every few seconds and
swaps the new snapshot in when it has been read. What changes during the day (alerts, scores, rule
hits) is queried live, through those tables' indexes.

Identity: the customer master's id (``marts.dim_customers.customer_id``) and every ERP customer
number linked to it (``marts.customer_source_xref``, source_system 'erp') name the same customer.
The credit marts and scoring tables may be keyed by either while the master is being integrated, so
a customer's *keys* are all of them, and every lookup uses the keys.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import anyio
import psycopg

log = logging.getLogger(__name__)

EXPOSURE_COLUMNS = ("customer_id", "customer_name", "currency", "open_receivables", "overdue_amount", "open_orders",
                    "unapplied_cash", "exposure", "credit_limit", "utilisation", "headroom", "is_over_limit")
MASTER_COLUMNS = ("customer_id", "customer_name", "uscc", "country_code", "city", "registration_status",
                  "erp_customer_ids", "is_erp_customer")
# Tables read live; a missing one degrades its part of the answer instead of failing it.
LIVE_TABLES = ("scoring.alerts", "scoring.customer_scores", "scoring.limit_proposals", "scoring.rule_hits",
               "scoring.rule_evaluations")


@dataclass(frozen=True, slots=True)  # slots: a large publication holds hundreds of thousands of these
class Exposure:
    key: str
    customer_name: str | None
    currency: str | None
    open_receivables: float | None
    overdue_amount: float | None
    open_orders: float | None
    unapplied_cash: float | None
    exposure: float | None
    credit_limit: float | None
    utilisation: float | None
    headroom: float | None
    is_over_limit: bool | None


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    customer_name: str | None
    uscc: str | None
    country_code: str | None
    city: str | None
    registration_status: str | None
    erp_customer_ids: tuple[str, ...]
    is_erp_customer: bool | None
    search_name: str


@dataclass
class Snapshot:
    business_date: date | None  # the publication's business date (None: nothing published)
    exposure_date: date | None  # the as-of date of the exposure rows held (normally the same)
    run_id: str | None
    published_at: datetime | None
    exposures: dict[str, Exposure] = field(default_factory=dict)
    customers: dict[str, Customer] | None = None  # None: no customer master published yet
    erp_to_master: dict[str, str] = field(default_factory=dict)
    master_to_erp: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_uscc: dict[str, list[str]] = field(default_factory=dict)
    tables: frozenset[str] = frozenset()  # the LIVE_TABLES that exist
    marker: tuple | None = None
    derived: dict[str, Any] = field(default_factory=dict)  # figures computed once per snapshot

    def keys_of(self, reference: str) -> tuple[Customer | None, list[str]] | None:
        """(master record or None, every key of the customer) for a master id or an ERP number; None
        when nothing published knows it."""
        customers = self.customers or {}
        if reference in customers or reference in self.master_to_erp:
            master_id = reference
        else:
            master_id = self.erp_to_master.get(reference)
        if master_id is None:
            return (None, [reference]) if reference in self.exposures else None
        master = customers.get(master_id)
        erp_ids = sorted({*self.master_to_erp.get(master_id, ()), *(master.erp_customer_ids if master else ())})
        return master, _unique([master_id, *erp_ids, reference])

    def master_id_of(self, key: str) -> str | None:
        if self.customers is not None and key in self.customers:
            return key
        return self.erp_to_master.get(key)

    def name_of(self, key: str) -> str | None:
        master_id = self.master_id_of(key)
        if master_id and self.customers and master_id in self.customers:
            return self.customers[master_id].customer_name
        row = self.exposures.get(key)
        return row.customer_name if row else None


def fields_of(row: Exposure | Customer, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__ if name not in leave_out}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def search_form(text: str | None) -> str:
    """What name search compares: full-width folded, case and spaces ignored."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return "".join(folded.split())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _marker(conn: psycopg.Connection) -> tuple:
    """What identifies the publication in force: its business date, run and time."""
    if _exists(conn, "ops.publications"):
        row = conn.execute("select business_date, run_id, published_at from ops.publications "
                           "order by published_at desc limit 1").fetchone()
        if row is not None:
            return ("publication", *row)
    return ("unpublished",)


def _stream(conn: psycopg.Connection, query: str, params: tuple = ()):
    """Rows through a server-side cursor, a batch at a time: a large publication never sits whole in memory
    twice (libpq's buffer and the snapshot)."""
    with conn.cursor(name="api_snapshot") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query, params)
        yield from cursor


def load(conn: psycopg.Connection) -> Snapshot:
    """Read the publication in force, consistently (one repeatable-read transaction). Repeated strings
    (ids, currencies, cities, statuses) are interned: one object each, however many rows name them."""
    intern = _interner()
    with conn.transaction():
        conn.execute("set transaction isolation level repeatable read, read only")
        conn.execute("set local statement_timeout = '10min'")  # once a night, the whole day's exposures
        marker = _marker(conn)
        business_date, run_id, published_at = marker[1:] if marker[0] == "publication" else (None, None, None)
        tables = frozenset(t for t in LIVE_TABLES if _exists(conn, t))
        snapshot = Snapshot(business_date, None, run_id, published_at, tables=tables, marker=marker)
        if _exists(conn, "marts.fct_credit_exposure_daily"):
            # the publication's date; before any publication (or when the mart lags), its latest date
            snapshot.exposure_date = conn.execute(
                """select max(as_of_date) from marts.fct_credit_exposure_daily
                   where %(day)s::date is null or as_of_date <= %(day)s""", {"day": business_date}).fetchone()[0]
            if business_date is None and snapshot.exposure_date is not None:
                # nothing in ops.publications: the marts' latest date stands in, and is re-checked later
                snapshot.marker = ("unpublished", snapshot.exposure_date)
            for row in _stream(conn, f"select {', '.join(EXPOSURE_COLUMNS)} from marts.fct_credit_exposure_daily "
                                     "where as_of_date = %s", (snapshot.exposure_date,)):
                (key, name, currency, receivables, overdue, orders, cash, exposure, limit, utilisation, headroom,
                 over) = row
                key = intern(key)
                snapshot.exposures[key] = Exposure(
                    key, name, intern(currency), _float(receivables), _float(overdue), _float(orders), _float(cash),
                    _float(exposure), _float(limit), _float(utilisation), _float(headroom), over)
        if _exists(conn, "marts.customer_source_xref"):
            linked: dict[str, list[str]] = {}
            for erp_id, master_id in _stream(
                conn, "select source_record_id, customer_id from marts.customer_source_xref "
                      "where source_system = 'erp' and customer_id is not null order by source_record_id"):
                erp_id, master_id = intern(erp_id), intern(master_id)
                snapshot.erp_to_master[erp_id] = master_id
                linked.setdefault(master_id, []).append(erp_id)
            snapshot.master_to_erp = {master_id: tuple(ids) for master_id, ids in linked.items()}
        if _exists(conn, "marts.dim_customers"):
            snapshot.customers = {}
            for row in _stream(conn, f"select {', '.join(MASTER_COLUMNS)} from marts.dim_customers"):
                customer_id, name, uscc, country, city, status, erp_ids, is_erp = row
                customer_id = intern(customer_id)
                erp = {intern(i.strip()) for i in (erp_ids or "").split(",") if i.strip()}
                erp.update(snapshot.master_to_erp.get(customer_id, ()))
                search = search_form(name)
                snapshot.customers[customer_id] = Customer(
                    customer_id, name, uscc, intern(country), intern(city), intern(status), tuple(sorted(erp)), is_erp,
                    name if search == name else search)
                if uscc:
                    snapshot.by_uscc.setdefault(uscc.upper(), []).append(customer_id)
    return snapshot


def _interner():
    seen: dict[str, str] = {}

    def intern(value: str | None) -> str | None:
        return None if value is None else seen.setdefault(value, value)

    return intern


class PublishedView:
    """The snapshot in force for this process. At most every ``check_every`` seconds one request looks
    for a newer publication (one small query); a new one is read in a worker thread while the others
    go on being served the snapshot in force. Only the very first request waits for a load."""

    def __init__(self, async_pool, pool, *, check_every: float = 2.0, unpublished_reload_every: float = 60.0):
        self._async_pool = async_pool  # for the marker check, on the event loop
        self._pool = pool  # for the load, in a thread
        self._check_every = check_every
        self._unpublished_reload_every = unpublished_reload_every
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the snapshot: the next request reads the publication again."""
        self._snapshot = None
        self._checked_at = 0.0

    async def current(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and (time.monotonic() - self._checked_at < self._check_every or self._lock.locked()):
            return snapshot  # fresh enough, or another request is checking: serve the one in force
        async with self._lock:
            if self._snapshot is not None and time.monotonic() - self._checked_at < self._check_every:
                return self._snapshot
            try:
                await self._refresh()
            except psycopg.Error:
                if self._snapshot is None:
                    raise
                log.warning("could not check for a newer publication; serving %s", self._snapshot.marker,
                            exc_info=True)
            return self._snapshot  # type: ignore[return-value]

    async def _refresh(self) -> None:
        current = self._snapshot
        if current is not None:
            async with self._async_pool.connection() as conn:
                marker = await _marker_async(conn)
            stale = marker != current.marker if marker[0] == "publication" else (
                time.monotonic() - self._loaded_at >= self._unpublished_reload_every)
            if not stale:
                self._checked_at = time.monotonic()
                return
        self._snapshot = await anyio.to_thread.run_sync(self._load)
        self._checked_at = self._loaded_at = time.monotonic()
        # The snapshot is long-lived and acyclic (refcounting frees the one it replaces): keep it, and what
        # the process has loaded so far, out of the cyclic collector's full passes, which would otherwise
        # walk every row in a pause of tens of milliseconds or more.
        gc.freeze()

    def _load(self) -> Snapshot:
        started = time.perf_counter()
        with self._pool.connection() as conn:
            snapshot = load(conn)
        log.info("publication %s loaded: %s exposures, %s customers in %.2f s", snapshot.marker,
                 len(snapshot.exposures), len(snapshot.customers or {}), time.perf_counter() - started)
        return snapshot


async def _marker_async(conn) -> tuple:
    cursor = await conn.execute("select to_regclass('ops.publications') is not null")
    if (await cursor.fetchone())[0]:
        cursor = await conn.execute("select business_date, run_id, published_at from ops.publications "
                                    "order by published_at desc limit 1")
        row = await cursor.fetchone()
        if row is not None:
            return ("publication", *row)
    return ("unpublished",)
