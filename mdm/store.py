"""The ``mdm`` schema: what entity resolution writes and what the dbt models in
``marts/customers`` read (as the dbt source ``mdm``).

Replaced by every run (one transaction, so readers see the old or the new state, never a mix):
- ``mdm.source_records``: every source record with the normalised attributes it was matched on;
- ``mdm.customer_xref``: every source record → customer id, match method, probability, reasons;
- ``mdm.review_queue``: grey-zone candidate pairs for data stewards.

Kept across runs:
- ``mdm.customer_ids`` and ``mdm.customer_id_assignments``: stable id issuance (see :mod:`mdm.ids`);
- ``mdm.steward_decisions``: a steward's verdict on a pair (``match`` / ``no_match``), applied
  by every later run as a must-link / cannot-link constraint;
- ``mdm.resolution_runs``: one row per run with its counts and the trained Splink models.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from mdm import ids

DDL = ids.DDL + """
create table if not exists mdm.source_records (
    source_system text not null,
    source_record_id text not null,
    name text,
    name_key text,
    name_region text,
    legal_form text,
    uscc text,
    registration_number text,
    vat_number text,
    country_code text,
    city text,
    city_key text,
    registered_city text,
    industry text,
    status text,
    parent_source_record_id text,
    run_id text not null,
    primary key (source_system, source_record_id)
);
create table if not exists mdm.customer_xref (
    source_system text not null,
    source_record_id text not null,
    customer_id text,
    match_method text not null,
    match_probability double precision,
    match_reasons text,
    run_id text not null,
    resolved_at timestamptz not null default now(),
    primary key (source_system, source_record_id)
);
create index if not exists customer_xref_customer on mdm.customer_xref (customer_id);
create table if not exists mdm.review_queue (
    review_id text primary key,
    kind text not null,
    review_reason text not null,
    match_probability double precision not null,
    reasons text,
    reasons_json jsonb,
    left_source_system text not null,
    left_source_record_id text not null,
    left_name text,
    left_uscc text,
    left_city text,
    left_country_code text,
    left_customer_id text,
    right_source_system text not null,
    right_source_record_id text not null,
    right_name text,
    right_uscc text,
    right_city text,
    right_country_code text,
    right_customer_id text,
    run_id text not null,
    queued_at timestamptz not null default now()
);
create table if not exists mdm.steward_decisions (
    left_source_system text not null,
    left_source_record_id text not null,
    right_source_system text not null,
    right_source_record_id text not null,
    decision text not null check (decision in ('match', 'no_match')),
    decided_by text,
    decided_at timestamptz not null default now(),
    note text,
    primary key (left_source_system, left_source_record_id, right_source_system, right_source_record_id)
);
create table if not exists mdm.resolution_runs (
    run_id text primary key,
    finished_at timestamptz not null default now(),
    summary jsonb not null,
    models jsonb
);
"""


def ensure_schema(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(hashtext('mdm.ensure_schema'))")
    conn.execute(DDL)


def steward_decisions(conn: psycopg.Connection) -> pd.DataFrame:
    cursor = conn.execute(
        """select left_source_system, left_source_record_id, right_source_system, right_source_record_id, decision
           from mdm.steward_decisions order by decided_at"""
    )
    return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    with conn.cursor() as cursor, cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def _none(value):
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:
        return None
    return value


def review_id(left: str, right: str) -> str:
    return hashlib.sha1(f"{left}\x1f{right}".encode()).hexdigest()[:16]


def write(conn: psycopg.Connection, resolution, customer_ids: dict[str, str], run_id: str, thresholds,
          new_ids: int = 0) -> dict:
    """Replace the per-run tables with this resolution; returns the run's summary counts."""
    from mdm.normalize import uscc_city

    records = resolution.records
    customer_of = [customer_ids.get(k) if isinstance(k, str) else None for k in records["cluster_key"].tolist()]
    conn.execute("truncate mdm.source_records, mdm.customer_xref, mdm.review_queue")

    xref_rows = (
        (s, r, c, m, _none(p), _none(reason), run_id)
        for s, r, c, m, p, reason in zip(records["source_system"].tolist(), records["source_record_id"].tolist(),
                                         customer_of, records["match_method"].tolist(),
                                         records["match_probability"].tolist(), records["match_reasons"].tolist(),
                                         strict=True)
    )
    _copy(conn, "mdm.customer_xref", ["source_system", "source_record_id", "customer_id", "match_method",
                                      "match_probability", "match_reasons", "run_id"], xref_rows)

    source = resolution.source_records
    source_rows = (
        (row.source_system, row.source_record_id, _none(row.name), _none(row.name_key), _none(row.name_region),
         _none(row.legal_form), _none(row.uscc), _none(row.registration_number), _none(row.vat_number),
         _none(row.country), _none(row.city), _none(row.city_key), uscc_city(_none(row.uscc)),
         _none(row.industry), _none(row.status), _none(row.parent_source_record_id), run_id)
        for row in source.itertuples(index=False)
    )
    _copy(conn, "mdm.source_records", [
        "source_system", "source_record_id", "name", "name_key", "name_region", "legal_form", "uscc",
        "registration_number", "vat_number", "country_code", "city", "city_key", "registered_city",
        "industry", "status", "parent_source_record_id", "run_id"], source_rows)

    review = resolution.review
    attributes = source.set_index(source["source_system"] + "|" + source["source_record_id"])
    cluster_of = dict(zip(records["unique_id"], records["cluster_key"], strict=True))
    seen = set()
    review_rows = []
    for row in review.itertuples(index=False):
        left, right = row.left_unique_id, row.right_unique_id
        key = review_id(left, right)
        if key in seen:
            continue
        seen.add(key)
        sides = []
        for uid, cluster in ((left, cluster_of.get(left)),
                             (right, row.right_cluster_key if isinstance(row.right_cluster_key, str)
                              else cluster_of.get(right))):
            system, record = uid.split("|", 1)
            attrs = attributes.loc[uid] if uid in attributes.index else None
            sides.append((system, record,
                          None if attrs is None else _none(attrs["name"]),
                          None if attrs is None else _none(attrs["uscc"]),
                          None if attrs is None else _none(attrs["city_key"]),
                          None if attrs is None else _none(attrs["country"]),
                          customer_ids.get(cluster) if isinstance(cluster, str) else None))
        review_rows.append((key, row.kind, row.review_reason, float(row.match_probability), row.reasons,
                            Jsonb(row.reasons_json), *sides[0], *sides[1], run_id))
    _copy(conn, "mdm.review_queue", [
        "review_id", "kind", "review_reason", "match_probability", "reasons", "reasons_json",
        "left_source_system", "left_source_record_id", "left_name", "left_uscc", "left_city", "left_country_code",
        "left_customer_id", "right_source_system", "right_source_record_id", "right_name", "right_uscc",
        "right_city", "right_country_code", "right_customer_id", "run_id"], review_rows)

    per_method = records.groupby(["source_system", "match_method"]).size()
    return {
        "run_id": run_id,
        "records": int(len(records)),
        "records_by_source": {k: int(v) for k, v in records.groupby("source_system").size().items()},
        "customers": len({c for c in customer_of if c}),
        "new_customer_ids": new_ids,
        "match_methods": {f"{s}:{m}": int(v) for (s, m), v in per_method.items()},
        "bank_unmatched": int(((records["source_system"] == "bank") & records["cluster_key"].isna()).sum()),
        "review_queue": len(review_rows),
        "thresholds": {"link": thresholds.link, "review": thresholds.review, "bank_link": thresholds.bank_link,
                       "bank_review": thresholds.bank_review},
        **resolution.metrics,
    }


def record_run(conn: psycopg.Connection, run_id: str, summary: dict, models: dict) -> None:
    conn.execute(
        """insert into mdm.resolution_runs (run_id, summary, models) values (%s, %s, %s)
           on conflict (run_id) do update set finished_at = now(), summary = excluded.summary,
           models = excluded.models""",
        (run_id, Jsonb(json.loads(json.dumps(summary, default=str))), Jsonb(json.loads(json.dumps(models,
                                                                                                  default=str)))),
    )
