"""Synthetic credit profiles with a known signal, for tests and benchmarks (never for production).

Each customer has a hidden quality q in (0, 1); its monthly profile (DSO, late payments, DPD, bureau
score, utilisation, …) is noisy evidence of q, and its monthly default hazard falls steeply with q.
``write_warehouse`` creates the tables the PD model reads, with the marts' column names, in an empty
database: ``marts.customer_credit_profile_history`` (month-ends), ``marts.customer_credit_profile``
(the last date), ``marts.fct_invoices`` (an invoice that goes 90+ DPD for each default),
``staging.stg_erp__write_offs`` and ``intermediate.int_bureau_events_mapped_to_customers``.
"""

from __future__ import annotations

import calendar
import io
from datetime import date, timedelta

import numpy as np
import pandas as pd

from credit_dw import warehouse

PROFILE_TYPES = {
    "as_of_date": "date", "is_month_end": "boolean", "customer_id": "text", "currency": "text",
    "open_receivables": "numeric(18,2)", "open_invoice_count": "integer", "max_days_past_due": "integer",
    "dso_simple": "numeric(10,2)", "collection_effectiveness_index": "numeric(10,2)",
    "share_paid_late_12m": "numeric(6,4)", "max_days_past_due_12m": "integer", "utilisation": "numeric(10,4)",
    "limit_breach_days_90d": "integer", "bureau_event_count_365d": "integer", "bureau_score": "integer",
    "registration_status_code": "text", "has_write_off": "boolean", "is_in_default": "boolean",
}


def month_ends(first: date, count: int) -> list[date]:
    out, year, month = [], first.year, first.month
    for _ in range(count):
        out.append(date(year, month, calendar.monthrange(year, month)[1]))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def customer_profiles(n: int, rng: np.random.Generator, quality: np.ndarray | None = None) -> pd.DataFrame:
    """One month's profile for ``n`` customers of the given (or random) quality."""
    q = rng.beta(5, 2, n) if quality is None else quality
    late = np.clip((1 - q) * 0.9 + rng.normal(0, 0.12, n), 0, 1)
    frame = pd.DataFrame({
        "open_receivables": np.round(rng.lognormal(12, 0.8, n), 2),
        "open_invoice_count": rng.poisson(4 + 6 * q),
        "max_days_past_due": np.maximum(0, rng.normal(60 * (1 - q) - 10, 15, n)).round(),
        "dso_simple": np.round(np.maximum(5, 35 + 70 * (1 - q) + rng.normal(0, 12, n)), 2),
        "collection_effectiveness_index": np.round(np.clip(55 + 40 * q + rng.normal(0, 8, n), 0, 100), 2),
        "share_paid_late_12m": np.round(late, 4),
        "max_days_past_due_12m": np.maximum(0, rng.normal(80 * (1 - q), 20, n)).round(),
        "utilisation": np.round(np.clip(rng.normal(0.9 - 0.5 * q, 0.2, n), 0, 2.5), 4),
        "limit_breach_days_90d": rng.poisson(10 * (1 - q) ** 2),
        "bureau_event_count_365d": rng.poisson(2 * (1 - q) ** 2),
        "bureau_score": np.round(300 + 550 * q + rng.normal(0, 40, n)),
        "registration_status_code": np.where(rng.random(n) < 0.97, "active", "other"),
    })
    for name, kind in PROFILE_TYPES.items():
        if kind == "integer" and name in frame:
            frame[name] = frame[name].astype("int64")
    frame["bureau_score"] = frame["bureau_score"].astype("Int64")
    frame.loc[rng.random(n) < 0.05, "bureau_score"] = pd.NA  # no bureau report
    return frame


def history(customers: int, months: int, *, first: date = date(2025, 10, 1), seed: int = 7):
    """Month-end profiles and default events: (profiles, defaults[customer_id, event_date, kind])."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{number:07d}" for number in range(1, customers + 1)])
    quality = rng.beta(5, 2, customers)
    ends = month_ends(first, months)
    hazard = 0.002 + 0.12 * (1 - quality) ** 3  # per month
    default_day = np.full(customers, None, dtype=object)
    start = date(first.year, first.month, 1)
    horizon = (ends[-1] - start).days
    for number in range(customers):
        days = rng.exponential(30.4 / hazard[number])
        if days <= horizon:
            default_day[number] = start + timedelta(days=int(days) + 1)
    kinds = rng.choice(["dpd90", "write_off", "bureau_event"], customers, p=[0.7, 0.2, 0.1])
    frames = []
    for day in ends:
        month = customer_profiles(customers, rng, quality)
        month.insert(0, "customer_id", ids)
        month.insert(0, "as_of_date", day)
        month["is_month_end"] = True
        month["currency"] = "CNY"
        defaulted = np.array([d is not None and d <= day for d in default_day])
        month["has_write_off"] = defaulted & (kinds == "write_off")
        month["is_in_default"] = defaulted
        frames.append(month)
    profiles = pd.concat(frames, ignore_index=True)
    events = pd.DataFrame({"customer_id": ids, "event_date": default_day, "kind": kinds})
    return profiles, events[events["event_date"].notna()].reset_index(drop=True)


def _copy_frame(conn, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="")
    columns = ", ".join(frame.columns)
    with conn.cursor() as cursor, cursor.copy(f"copy {table} ({columns}) from stdin with (format csv)") as copy:
        copy.write(buffer.getvalue())


def create_tables(conn) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in PROFILE_TYPES.items())
    conn.execute(f"""
        create schema if not exists marts;
        create schema if not exists staging;
        create schema if not exists intermediate;
        create table if not exists marts.customer_credit_profile_history ({columns});
        create table if not exists marts.customer_credit_profile ({columns});
        create table if not exists marts.fct_invoices (
            invoice_id text, customer_id text, invoice_date date, due_date date, settled_date date, as_of_date date);
        create table if not exists staging.stg_erp__write_offs (
            write_off_id text, customer_id text, write_off_date date);
        create table if not exists intermediate.int_bureau_events_mapped_to_customers (
            event_id text, customer_id text, event_date date, event_type text, is_default_event boolean);
    """)


def write_events(conn, events: pd.DataFrame, data_end: date) -> None:
    """Each default event in the table its kind comes from (plus a paid invoice per customer)."""
    dpd = events[events["kind"] == "dpd90"]
    invoices = pd.DataFrame({
        "invoice_id": [f"D{n}" for n in range(len(dpd))], "customer_id": dpd["customer_id"].to_numpy(),
        "invoice_date": [d - timedelta(days=120) for d in dpd["event_date"]],
        "due_date": [d - timedelta(days=90) for d in dpd["event_date"]],
        "settled_date": None, "as_of_date": data_end,
    })
    _copy_frame(conn, "marts.fct_invoices", invoices)
    write_offs = events[events["kind"] == "write_off"]
    _copy_frame(conn, "staging.stg_erp__write_offs", pd.DataFrame({
        "write_off_id": [f"W{n}" for n in range(len(write_offs))], "customer_id": write_offs["customer_id"].to_numpy(),
        "write_off_date": write_offs["event_date"].to_numpy()}))
    bureau = events[events["kind"] == "bureau_event"]
    _copy_frame(conn, "intermediate.int_bureau_events_mapped_to_customers", pd.DataFrame({
        "event_id": [f"B{n}" for n in range(len(bureau))], "customer_id": bureau["customer_id"].to_numpy(),
        "event_date": bureau["event_date"].to_numpy(), "event_type": "deregistration", "is_default_event": True}))


def write_warehouse(database_url: str, customers: int = 1500, months: int = 13, *, first: date = date(2025, 10, 1),
                    seed: int = 7) -> dict:
    """Fill an empty database with a synthetic history; returns what was written."""
    profiles, events = history(customers, months, first=first, seed=seed)
    last = profiles["as_of_date"].max()
    with warehouse.connect(database_url) as conn:
        create_tables(conn)
        _copy_frame(conn, "marts.customer_credit_profile_history", profiles[list(PROFILE_TYPES)])
        latest = profiles[profiles["as_of_date"] == last]
        _copy_frame(conn, "marts.customer_credit_profile", latest[list(PROFILE_TYPES)])
        write_events(conn, events, last)
    return {"customers": customers, "months": months, "data_end": last, "defaults": len(events)}


def write_current_profiles(database_url: str, customers: int, as_of_date: date, *, seed: int = 11) -> None:
    """Only ``marts.customer_credit_profile`` for one date (for the scoring benchmark)."""
    rng = np.random.default_rng(seed)
    frame = customer_profiles(customers, rng)
    frame.insert(0, "customer_id", [f"B{number:07d}" for number in range(1, customers + 1)])
    frame.insert(0, "as_of_date", as_of_date)
    frame["is_month_end"] = True
    frame["currency"] = "CNY"
    frame["has_write_off"] = False
    frame["is_in_default"] = rng.random(customers) < 0.01
    with warehouse.connect(database_url) as conn:
        create_tables(conn)
        conn.execute("delete from marts.customer_credit_profile where as_of_date = %s", (as_of_date,))
        _copy_frame(conn, "marts.customer_credit_profile", frame[list(PROFILE_TYPES)])


def labelled_table(rows: int, *, seed: int = 3, target: str = "default") -> pd.DataFrame:
    """A messy public-data-like labelled table (think "Give Me Some Credit"): a row id, numeric
    features with missing values and outliers, a percentage written as text, a low- and a
    high-cardinality categorical, a constant and an all-missing column, and a Yes/No target whose
    log-odds depend on a known subset of the features."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 90, rows).astype(float)
    income = rng.lognormal(8.5, 0.6, rows)
    income[rng.random(rows) < 0.2] = np.nan
    utilisation = np.clip(rng.beta(1.2, 3, rows) * 1.3, 0, None)
    late_30 = rng.poisson(0.4, rows).astype(float)
    debt_ratio = rng.lognormal(-1, 0.8, rows)
    region = rng.choice(["north", "south", "east", "west", "centre"], rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    postcode = np.array([f"P{v:04d}" for v in rng.integers(0, 3000, rows)])
    region_effect = pd.Series(region).map({"north": 0.0, "south": 0.3, "east": -0.2, "west": 0.5, "centre": 0.1})
    logit = (-2.6 + 1.8 * utilisation + 0.55 * late_30 - 0.02 * (age - 45)
             - 0.35 * np.nan_to_num(np.log(income) - 8.5, nan=-0.3) + region_effect.to_numpy())
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "": np.arange(1, rows + 1),  # an unnamed row number, as pandas writes it
        "loan_id": [f"L{v:08d}" for v in rng.permutation(rows)],
        "age": age, "monthly_income": np.round(income, 2),
        "revolving_utilisation": [f"{v * 100:.1f}%" for v in utilisation],
        "times_30_59_days_late": late_30, "debt_ratio": np.round(debt_ratio, 4),
        "region": region, "postcode": postcode,
        "noise": rng.normal(size=rows), "product": "term loan", "branch_code": np.nan,
        target: np.where(bad, "Yes", "No"),
    })
    frame.loc[rng.random(rows) < 0.03, "region"] = None
    return frame
