"""Stable customer ids.

A customer id (``CU00001234``) is issued once, from a sequence, and never renumbered. The ids of
the master records (ERP customers, CRM accounts, bureau subjects) are remembered in
``mdm.customer_id_assignments``; each run, every new cluster claims the id most of its members
had (ties: the oldest id), each old id going to at most one cluster. So:

- a re-run with the same data gives every customer the id it had;
- a new record joining a customer does not change the customer's id;
- a new customer gets a new id; nothing else moves;
- when two customers merge, the survivor keeps the id of the larger side and the other id is
  marked ``merged`` with ``merged_into`` in ``mdm.customer_ids``;
- when a customer splits, the larger part keeps the id and the rest get new ids.

Bank entries never anchor an id: they are transactions, not parties.
"""

from __future__ import annotations

from collections import Counter

import psycopg

ID_PREFIX = "CU"
ID_DIGITS = 8

DDL = """
create schema if not exists mdm;
create sequence if not exists mdm.customer_number_seq;
create table if not exists mdm.customer_ids (
    customer_id text primary key,
    status text not null default 'active' check (status in ('active', 'merged', 'retired')),
    merged_into text,
    issued_run_id text,
    issued_at timestamptz not null default now(),
    last_run_id text,
    updated_at timestamptz not null default now()
);
create table if not exists mdm.customer_id_assignments (
    source_system text not null,
    source_record_id text not null,
    customer_id text not null references mdm.customer_ids (customer_id),
    assigned_run_id text,
    assigned_at timestamptz not null default now(),
    primary key (source_system, source_record_id)
);
"""


def format_id(number: int) -> str:
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


def assign(conn: psycopg.Connection, clusters: dict[str, list[tuple[str, str]]],
           run_id: str) -> tuple[dict[str, str], int]:
    """Customer id for each cluster (cluster key -> members as (source_system, source_record_id)),
    and how many ids were newly issued.

    Runs inside the caller's transaction, which must hold the resolution lock."""
    conn.execute(DDL)
    previous: dict[tuple[str, str], str] = {
        (s, r): c for s, r, c in conn.execute(
            "select source_system, source_record_id, customer_id from mdm.customer_id_assignments")
    }
    status = dict(conn.execute("select customer_id, status from mdm.customer_ids").fetchall())

    claims = []
    for key, members in clusters.items():
        for old_id, votes in Counter(previous[m] for m in members if m in previous).items():
            claims.append((-votes, old_id, key))
    claims.sort()
    assigned: dict[str, str] = {}
    taken: set[str] = set()
    for _, old_id, key in claims:
        if key in assigned or old_id in taken:
            continue
        assigned[key] = old_id
        taken.add(old_id)

    # New customers in a reproducible order: by their smallest member.
    new_keys = sorted((k for k in clusters if k not in assigned), key=lambda k: min(clusters[k]))
    if new_keys:
        numbers = conn.execute(
            "select nextval('mdm.customer_number_seq') from generate_series(1, %s)", (len(new_keys),)
        ).fetchall()
        for key, (number,) in zip(new_keys, numbers, strict=True):
            assigned[key] = format_id(number)
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into mdm.customer_ids (customer_id, issued_run_id, last_run_id) values (%s, %s, %s)""",
            [(assigned[k], run_id, run_id) for k in new_keys],
        )
        cursor.executemany(
            """update mdm.customer_ids set status = 'active', merged_into = null, last_run_id = %s, updated_at = now()
               where customer_id = %s and (status <> 'active' or last_run_id is distinct from %s)""",
            [(run_id, assigned[k], run_id) for k in clusters if k not in new_keys],
        )
    # Ids no cluster claimed: merged into the customer holding most of their records, or retired.
    current = {m: assigned[k] for k, members in clusters.items() for m in members}
    orphans: dict[str, Counter] = {}
    for member, old_id in previous.items():
        if old_id not in taken and status.get(old_id) == "active":
            orphans.setdefault(old_id, Counter())
            if member in current:
                orphans[old_id][current[member]] += 1
    with conn.cursor() as cursor:
        for old_id, successors in orphans.items():
            if successors:
                cursor.execute(
                    """update mdm.customer_ids set status = 'merged', merged_into = %s, last_run_id = %s,
                       updated_at = now() where customer_id = %s""",
                    (successors.most_common(1)[0][0], run_id, old_id),
                )
            else:
                cursor.execute(
                    """update mdm.customer_ids set status = 'retired', last_run_id = %s, updated_at = now()
                       where customer_id = %s""",
                    (run_id, old_id),
                )
        rows = [(s, r, current[(s, r)], run_id) for (s, r) in current if previous.get((s, r)) != current[(s, r)]]
        cursor.executemany(
            """insert into mdm.customer_id_assignments (source_system, source_record_id, customer_id, assigned_run_id)
               values (%s, %s, %s, %s)
               on conflict (source_system, source_record_id) do update
               set customer_id = excluded.customer_id, assigned_run_id = excluded.assigned_run_id,
                   assigned_at = now()""",
            rows,
        )
    return assigned, len(new_keys)
