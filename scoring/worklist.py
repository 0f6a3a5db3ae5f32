"""The collections worklist: overdue customers ranked by expected loss, then days past due.

For each customer at least ``collections.min_dpd`` days past due on the business date:

- EAD = exposure + CCF × unused limit (unused = max(limit − exposure, 0));
- PD = the champion model's latest score (``pd_source`` = ``model <version>``); when the customer
  has none (the model not trained yet, or a new customer), the policy's default PD for its DPD bucket
  (``pd_source`` = ``default_by_dpd (no model score)``);
- EL = PD × LGD × EAD, with LGD and CCF from the policy;
- dunning level = the highest level whose ``min_dpd`` the customer's DPD reaches;
- owner = the CRM account owner's id (never the name: it is personal data, stored encrypted), through
  the customer master's cross-reference, or by USCC while the master is not built.

Ranked by EL descending, then DPD descending, then overdue amount. Stored in
``scoring.collections_worklist``, replacing the date's rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from scoring.rules.engine import CUSTOMER_ROWS, load_customer_rows
from scoring.rules.policy import Collections, RuleSet
from scoring.rules.targets import available_columns

WORKLIST_DDL = """
create schema if not exists scoring;
create table if not exists scoring.collections_worklist (
    as_of_date date not null,
    rank integer not null,
    customer_id text not null,
    owner_id text,
    owner_source text,
    currency text,
    overdue_amount numeric(18, 2),
    max_dpd integer not null,
    dunning_level text not null,
    exposure numeric(18, 2),
    credit_limit numeric(18, 2),
    ead numeric(18, 2) not null,
    pd numeric(9, 6) not null,
    pd_source text not null,
    lgd numeric(6, 4) not null,
    ccf numeric(6, 4) not null,
    expected_loss numeric(18, 2) not null,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    run_id text,
    created_at timestamptz not null default now(),
    primary key (as_of_date, customer_id)
);
create index if not exists collections_worklist_rank on scoring.collections_worklist (as_of_date, rank);
"""
NO_SCORE = "default_by_dpd (no model score)"


def ensure_worklist(conn) -> None:
    conn.execute(WORKLIST_DDL)


def _has_columns(conn, schema: str, table: str, columns: set[str]) -> bool:
    present = {row[0] for row in conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table),
    )}
    return columns <= present


def owners(conn, customer_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{customer_id: (owner_id, how it was linked)}; customer ids may be ERP numbers or master ids."""
    if not customer_ids or not _has_columns(conn, "staging", "stg_crm__accounts", {"account_id", "owner_id", "uscc"}):
        return {}
    found: dict[str, tuple[str, str]] = {}
    if _has_columns(conn, "marts", "customer_source_xref", {"source_system", "source_record_id", "customer_id"}):
        for customer_id, owner_id in conn.execute(
            """with links as (
                   select erp.source_record_id as customer_id, crm.source_record_id as account_id
                   from marts.customer_source_xref as erp
                   inner join marts.customer_source_xref as crm
                       on crm.customer_id = erp.customer_id and crm.source_system = 'crm'
                   where erp.source_system = 'erp'
                   union all
                   select customer_id, source_record_id from marts.customer_source_xref where source_system = 'crm'
               )
               select distinct on (links.customer_id) links.customer_id, accounts.owner_id
               from links
               inner join staging.stg_crm__accounts as accounts on accounts.account_id = links.account_id
               where links.customer_id = any(%s) and accounts.owner_id is not null
               order by links.customer_id, accounts.account_id""",
            (customer_ids,),
        ):
            found[customer_id] = (owner_id, "customer_master")
    rest = [c for c in customer_ids if c not in found]
    if rest and _has_columns(conn, "staging", "stg_erp__customers", {"customer_id", "uscc"}):
        for customer_id, owner_id in conn.execute(
            """select distinct on (customers.customer_id) customers.customer_id, accounts.owner_id
               from staging.stg_erp__customers as customers
               inner join staging.stg_crm__accounts as accounts on accounts.uscc = customers.uscc
               where customers.customer_id = any(%s) and customers.uscc is not null and accounts.owner_id is not null
               order by customers.customer_id, accounts.account_id""",
            (rest,),
        ):
            found[customer_id] = (owner_id, "uscc_match")
    return found


def rank_rows(rows: list[dict[str, Any]], collections: Collections) -> list[dict[str, Any]]:
    """Fill EAD, PD (with its source), EL and dunning level, and rank. Pure: the tests call it too."""
    ranked = []
    for row in rows:
        dpd = int(row["max_dpd"])
        exposure = float(row.get("exposure") or 0.0)
        limit = float(row.get("credit_limit") or 0.0)
        unused = max(limit - exposure, 0.0)
        ead = max(exposure, 0.0) + collections.ccf * unused
        if row.get("pd") is not None:
            pd = float(row["pd"])
            source = f"model {row['model_version']}" if row.get("model_version") else "model"
        else:
            pd, source = collections.default_pd(dpd), NO_SCORE
        ranked.append({
            **row, "max_dpd": dpd, "ead": round(ead, 2), "pd": pd, "pd_source": source,
            "lgd": collections.lgd, "ccf": collections.ccf,
            "expected_loss": round(pd * collections.lgd * ead, 2),
            "dunning_level": collections.dunning_level(dpd) or "none",
        })
    ranked.sort(key=lambda r: (-r["expected_loss"], -r["max_dpd"], -float(r.get("overdue_amount") or 0),
                               r["customer_id"]))
    for number, row in enumerate(ranked, start=1):
        row["rank"] = number
    return ranked


def build_worklist(conn, rule_set: RuleSet, as_of_date: date, *, run_id: str | None = None) -> dict[str, Any]:
    ensure_worklist(conn)
    collections = rule_set.collections
    if collections is None:
        return {"rows": 0, "unavailable": "the policy has no collections section"}
    available, missing = available_columns(conn)
    if "max_dpd" not in available:
        return {"rows": 0, "unavailable": f"max_dpd: {missing.get('max_dpd')}"}
    exists = conn.execute(f"select to_regclass('pg_temp.{CUSTOMER_ROWS}')").fetchone()[0]
    if exists is None or not conn.execute(
        f"select exists (select 1 from {CUSTOMER_ROWS} where as_of_date = %s)", (as_of_date,)
    ).fetchone()[0]:
        load_customer_rows(conn, as_of_date, as_of_date)
    cursor = conn.execute(
        f"""select customer_id, currency, overdue_amount, max_dpd, exposure, credit_limit, pd,
                   _model_version as model_version
            from {CUSTOMER_ROWS} where as_of_date = %s and max_dpd >= %s""",
        (as_of_date, collections.min_dpd),
    )
    columns = [c.name for c in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    owner_of = owners(conn, [row["customer_id"] for row in rows])
    for row in rows:
        row["owner_id"], row["owner_source"] = owner_of.get(row["customer_id"], (None, None))
    ranked = rank_rows(rows, collections)
    conn.execute("delete from scoring.collections_worklist where as_of_date = %s", (as_of_date,))
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into scoring.collections_worklist
                   (as_of_date, rank, customer_id, owner_id, owner_source, currency, overdue_amount, max_dpd,
                    dunning_level, exposure, credit_limit, ead, pd, pd_source, lgd, ccf, expected_loss,
                    rule_set, rule_set_version, content_hash, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(as_of_date, r["rank"], r["customer_id"], r["owner_id"], r["owner_source"], r["currency"],
              r["overdue_amount"], r["max_dpd"], r["dunning_level"], r["exposure"], r["credit_limit"], r["ead"],
              r["pd"], r["pd_source"], r["lgd"], r["ccf"], r["expected_loss"], rule_set.name, rule_set.version,
              rule_set.content_hash, run_id) for r in ranked],
        )
    by_level: dict[str, int] = {}
    for row in ranked:
        by_level[row["dunning_level"]] = by_level.get(row["dunning_level"], 0) + 1
    return {"rows": len(ranked), "by_dunning_level": by_level,
            "default_pd_rows": sum(1 for r in ranked if r["pd_source"] == NO_SCORE),
            "without_owner": sum(1 for r in ranked if r["owner_id"] is None)}


def worklist(conn, as_of_date: date, *, owner_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    ensure_worklist(conn)
    cursor = conn.execute(
        """select rank, customer_id, owner_id, dunning_level, max_dpd, overdue_amount, ead, pd, pd_source,
                  expected_loss, currency
           from scoring.collections_worklist
           where as_of_date = %s and (%s::text is null or owner_id = %s) order by rank limit %s""",
        (as_of_date, owner_id, owner_id, limit),
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
