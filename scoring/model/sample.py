"""The development sample: one row per customer and observation date (a month-end), with the
features the warehouse knew on that date and whether the customer defaulted in the 12 months after.

No leakage, by construction:
- features come only from the customer's ``marts.customer_credit_profile_history`` row of the
  observation date, which the marts build point in time (nothing dated or loaded after it);
- the label looks only at default events dated strictly after the observation date and at most
  365 days after it (and not after the data end): an event on the observation date or before is
  not a label (it shows in the features: max DPD, write-off and bureau flags, ``is_in_default``).

Default (docs/domain.md): an invoice reaching 90 days past due (on due date + 90 while still not
settled), a write-off, or a bankruptcy / deregistration / revocation reported by the bureau.

Outcome windows: an observation date needs 365 days of data after it for a complete window. With a
short history (the sandbox has 13 months) only the first month-ends have that much, so observation
dates with at least ``min_outcome_days`` of data are used and their window ends at the data end;
each row carries its ``outcome_days`` and the registry records that windows were truncated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from psycopg import sql

from credit_dw import warehouse

OUTCOME_WINDOW_DAYS = 365
MIN_OUTCOME_DAYS = 90
HISTORY_TABLE = ("marts", "customer_credit_profile_history")
CURRENT_TABLE = ("marts", "customer_credit_profile")

# Columns of the profile tables that are not features: keys, calendar artefacts, currencies, dates,
# and the default flag itself (rows in default on the observation date are left out of training).
NOT_FEATURES = {
    "as_of_date", "is_month_end", "customer_id", "currency", "credit_limit_currency", "period_start_date",
    "period_days", "bureau_report_date", "is_in_default", "customer_name", "known_at", "known_date",
    "last_known_at", "report_date",
}
NUMERIC_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean"}
TEXT_TYPES = {"text", "character varying", "character"}
# A text column is a feature only when it is a code with few values (a status, a segment).
MAX_CATEGORY_VALUES = 50

# Where default events come from: for each kind, the first relation that exists with these columns.
DPD90_SOURCES = [
    ("marts", "fct_invoices", ("customer_id", "due_date", "settled_date"),
     "select customer_id, due_date + 90 as event_date from {rel} "
     "where settled_date is null or settled_date > due_date + 90"),
]
WRITE_OFF_SOURCES = [
    ("marts", "fct_write_offs", ("customer_id", "write_off_date"),
     "select customer_id, write_off_date as event_date from {rel}"),
    ("staging", "stg_erp__write_offs", ("customer_id", "write_off_date"),
     "select customer_id, write_off_date as event_date from {rel}"),
]
BUREAU_EVENT_SOURCES = [
    ("marts", "fct_bureau_events", ("customer_id", "event_date", "is_default_event"),
     "select customer_id, event_date from {rel} where is_default_event"),
    ("marts", "fct_bureau_events", ("customer_id", "event_date", "event_type"),
     "select customer_id, event_date from {rel} "
     "where event_type in ('bankruptcy', 'deregistration', 'revocation')"),
    ("intermediate", "int_bureau_events_mapped_to_customers", ("customer_id", "event_date", "is_default_event"),
     "select customer_id, event_date from {rel} where is_default_event"),
]
BUREAU_STATUS_SOURCES = [
    ("intermediate", "int_bureau_reports_mapped_to_customers",
     ("customer_id", "report_date", "registration_status_code"),
     "select customer_id, min(report_date) as event_date from {rel} "
     "where registration_status_code in ('deregistered', 'revoked') group by customer_id"),
]
EVENT_SOURCES = {
    "dpd90": DPD90_SOURCES, "write_off": WRITE_OFF_SOURCES, "bureau_event": BUREAU_EVENT_SOURCES,
    "bureau_status": BUREAU_STATUS_SOURCES,
}


class NoHistory(RuntimeError):
    """The warehouse has no credit profile history to learn from."""


@dataclass
class Sample:
    frame: pd.DataFrame  # as_of_date, customer_id, features..., is_in_default, default_flag, default_date, ...
    numeric: list[str]
    categorical: list[str]
    data_end: date
    observation_dates: list[date]
    event_sources: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def relation_columns(conn, schema: str, table: str) -> dict[str, str]:
    """Column name -> data type, in table order (empty when the relation does not exist)."""
    rows = conn.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = %s and table_name = %s order by ordinal_position""",
        (schema, table),
    ).fetchall()
    return dict(rows)


def event_sources(conn) -> dict[str, tuple[str, sql.Composable]]:
    """For each kind of default event: the first source that exists, and the query over it."""
    chosen: dict[str, tuple[str, sql.Composable]] = {}
    for kind, candidates in EVENT_SOURCES.items():
        for schema, table, needed, template in candidates:
            columns = relation_columns(conn, schema, table)
            if all(column in columns for column in needed):
                chosen[kind] = (f"{schema}.{table}", sql.SQL(template).format(rel=sql.Identifier(schema, table)))
                break
    return chosen


def events_query(sources: dict[str, tuple[str, sql.Composable]]) -> sql.Composable:
    """All default events as (customer_id, event_date, kind)."""
    if not sources:
        return sql.SQL("select null::text as customer_id, null::date as event_date, null::text as kind where false")
    parts = [
        sql.SQL("select customer_id::text, event_date::date, {kind} as kind from ({query}) as {alias}").format(
            kind=sql.Literal(kind), query=query, alias=sql.Identifier(f"events_{kind}"))
        for kind, (_, query) in sources.items()
    ]
    return sql.SQL(" union all ").join(parts)


def read_frame(conn, query: sql.Composable, types: dict[str, str] | None = None) -> pd.DataFrame:
    """A query's result through COPY … TO STDOUT (CSV), typed from ``types`` (column -> SQL type)."""
    buffer = io.BytesIO()
    with conn.cursor() as cursor, cursor.copy(
        sql.SQL("copy ({}) to stdout with (format csv, header true)").format(query)
    ) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return pd.DataFrame(columns=list(types or {}))
    text_columns = {name: "string" for name, kind in (types or {}).items() if kind not in NUMERIC_TYPES}
    frame = pd.read_csv(buffer, dtype=text_columns, keep_default_na=False, na_values=[""])
    for name, kind in (types or {}).items():
        if name not in frame.columns:
            continue
        if kind == "boolean":
            frame[name] = frame[name].map({"t": 1.0, "f": 0.0, True: 1.0, False: 0.0}).astype("float64")
        elif kind in NUMERIC_TYPES:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "date":
            frame[name] = pd.to_datetime(frame[name], errors="coerce").dt.date
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def feature_columns(types: dict[str, str]) -> tuple[list[str], list[str]]:
    """Candidate numeric and text feature columns of a profile table."""
    numeric = [c for c, t in types.items() if c not in NOT_FEATURES and t in NUMERIC_TYPES]
    text = [c for c, t in types.items() if c not in NOT_FEATURES and t in TEXT_TYPES
            and not c.endswith(("_id", "_name", "_currency"))]
    return numeric, text


def history_dates(conn) -> list[date]:
    if not relation_columns(conn, *HISTORY_TABLE):
        return []
    return [row[0] for row in conn.execute(
        sql.SQL("select distinct as_of_date from {} order by 1").format(sql.Identifier(*HISTORY_TABLE)))]


def data_end_of(conn, as_of: date | None) -> date | None:
    """The last date outcomes are known for: ``as_of`` (when given) capped at the marts' own as-of
    date (an invoice open in ``marts.fct_invoices`` may have been paid after its build)."""
    built = None
    if relation_columns(conn, "marts", "fct_invoices").get("as_of_date"):
        built = conn.execute("select max(as_of_date) from marts.fct_invoices").fetchone()[0]
    if built is None:
        dates = history_dates(conn)
        built = dates[-1] if dates else None
    if as_of is None:
        return built
    return min(as_of, built) if built else as_of


def development_sample(
    as_of: date | None = None, *, database_url: str | None = None, min_outcome_days: int = MIN_OUTCOME_DAYS,
    max_rows: int = 1_000_000, seed: int = 42,
) -> Sample:
    """Features and 12-month default labels for every usable observation date up to ``as_of``."""
    with warehouse.connect(database_url) as conn:
        types = relation_columns(conn, *HISTORY_TABLE)
        if not types:
            raise NoHistory("marts.customer_credit_profile_history does not exist yet: build the marts first")
        data_end = data_end_of(conn, as_of)
        if data_end is None:
            raise NoHistory("marts.customer_credit_profile_history is empty")
        dates = [d for d in history_dates(conn) if d <= data_end - timedelta(days=min_outcome_days)]
        sources = event_sources(conn)
        numeric, text = feature_columns(types)
        columns = ["as_of_date", "customer_id", *numeric, *text] + (["is_in_default"] if "is_in_default" in types
                                                                    else [])
        features = read_frame(conn, sql.SQL("select {cols} from {rel} where as_of_date = any({dates})").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)), rel=sql.Identifier(*HISTORY_TABLE),
            dates=sql.Literal(dates)), {c: types[c] for c in columns})
        label_types = {"as_of_date": "date", "customer_id": "text", "default_date": "date", "default_kind": "text"}
        labels = read_frame(conn, labels_query(dates, data_end, sources), label_types)
    notes = []
    if len(features) > max_rows:
        notes.append(f"sample capped at {max_rows} of {len(features)} rows (uniform random)")
        features = features.sample(n=max_rows, random_state=seed).sort_index()
    frame = features.merge(labels, on=["as_of_date", "customer_id"], how="left")
    frame["default_flag"] = frame["default_date"].notna().astype(np.int8)
    frame["outcome_days"] = [min(OUTCOME_WINDOW_DAYS, (data_end - d).days) for d in frame["as_of_date"]]
    if "is_in_default" not in frame:
        frame["is_in_default"] = 0.0
    categorical = [c for c in text if frame[c].nunique() <= MAX_CATEGORY_VALUES]
    missing = [kind for kind in EVENT_SOURCES if kind not in sources]
    if missing:
        notes.append(f"no source found for default events of kind: {', '.join(missing)}")
    return Sample(frame, numeric, categorical, data_end, dates,
                  {kind: source for kind, (source, _) in sources.items()}, notes)


def labels_query(dates: list[date], data_end: date, sources: dict[str, tuple[str, sql.Composable]],
                 table: tuple[str, str] = HISTORY_TABLE) -> sql.Composable:
    """The first default event strictly after each observation date, within 365 days and the data end."""
    return sql.SQL("""
        with observations as (
            select as_of_date, customer_id from {rel} where as_of_date = any({dates})
        ),
        events as ({events})
        select observations.as_of_date, observations.customer_id,
               min(events.event_date) as default_date,
               (array_agg(events.kind order by events.event_date, events.kind))[1] as default_kind
        from observations
        inner join events
            on events.customer_id = observations.customer_id
            and events.event_date > observations.as_of_date
            and events.event_date <= least(observations.as_of_date + {window}, {data_end}::date)
        group by observations.as_of_date, observations.customer_id
    """).format(rel=sql.Identifier(*table), dates=sql.Literal(dates), events=events_query(sources),
                window=sql.Literal(OUTCOME_WINDOW_DAYS), data_end=sql.Literal(data_end))


def outcomes_for(conn, scored: pd.DataFrame, data_end: date) -> pd.Series:
    """Default flags for (as_of_date, customer_id) pairs of past scores (for the back-test)."""
    sources = event_sources(conn)
    if scored.empty:
        return pd.Series(dtype="int8")
    query = sql.SQL("""
        with observations as (
            select * from unnest({dates}::date[], {customers}::text[]) as o(as_of_date, customer_id)
        ),
        events as ({events})
        select distinct observations.as_of_date, observations.customer_id
        from observations
        inner join events
            on events.customer_id = observations.customer_id
            and events.event_date > observations.as_of_date
            and events.event_date <= least(observations.as_of_date + {window}, {data_end}::date)
    """).format(dates=sql.Literal(list(scored["as_of_date"])), customers=sql.Literal(list(scored["customer_id"])),
                events=events_query(sources), window=sql.Literal(OUTCOME_WINDOW_DAYS), data_end=sql.Literal(data_end))
    defaulted = set(map(tuple, conn.execute(query).fetchall()))
    return pd.Series([(d, c) in defaulted for d, c in zip(scored["as_of_date"], scored["customer_id"], strict=True)],
                     index=scored.index).astype(np.int8)
