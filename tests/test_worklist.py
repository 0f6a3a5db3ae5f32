"""Collections worklist (EL ranking, dunning levels, PD fallback, CRM owner id) and limit proposals."""

from __future__ import annotations

import psycopg
from test_rules import DAY, build_marts, parse_policy, policy_text

from scoring import limits, worklist
from scoring.rules.engine import evaluate
from scoring.rules.policy import DEFAULT_POLICY, load_policy

POLICY = load_policy(DEFAULT_POLICY)
COLLECTIONS = POLICY.collections


def test_dunning_levels_follow_the_dpd_thresholds():
    assert [COLLECTIONS.dunning_level(d) for d in (0, 1, 14, 15, 44, 45, 89, 90, 400)] == [
        None, "reminder", "reminder", "first_notice", "first_notice", "final_notice", "final_notice", "legal", "legal"]
    assert [COLLECTIONS.default_pd(d) for d in (1, 30, 31, 60, 61, 90, 91)] == [0.05, 0.05, 0.15, 0.15, 0.35, 0.35, 0.6]


def test_ranking_by_expected_loss_then_days_past_due():
    rows = [
        # EAD = exposure + 0.5 × unused limit; EL = PD × 0.45 × EAD
        {"customer_id": "A", "max_dpd": 10, "exposure": 100_000, "credit_limit": 200_000, "pd": None},  # default 0.05
        {"customer_id": "B", "max_dpd": 95, "exposure": 20_000, "credit_limit": 20_000, "pd": None},  # default 0.60
        {"customer_id": "C", "max_dpd": 40, "exposure": 100_000, "credit_limit": 100_000, "pd": 0.2,
         "model_version": "pd-2026.10"},
        {"customer_id": "D", "max_dpd": 50, "exposure": 20_000, "credit_limit": 20_000, "pd": 0.6},  # ties with B
    ]
    ranked = worklist.rank_rows(rows, COLLECTIONS)
    assert [r["customer_id"] for r in ranked] == ["C", "B", "D", "A"]  # EL 9000, 5400 (95 DPD), 5400, 3375
    by_id = {r["customer_id"]: r for r in ranked}
    assert by_id["A"]["ead"] == 150_000 and by_id["A"]["expected_loss"] == round(0.05 * 0.45 * 150_000, 2)
    assert by_id["B"]["expected_loss"] == by_id["D"]["expected_loss"]  # equal EL: more days past due first
    assert by_id["A"]["pd_source"] == "default_by_dpd (no model score)"
    assert by_id["C"]["pd_source"] == "model pd-2026.10"
    assert [by_id[c]["dunning_level"] for c in "ABCD"] == ["reminder", "legal", "first_notice", "final_notice"]


def _crm(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("""
            create schema if not exists staging;
            create table staging.stg_erp__customers (customer_id text, uscc text);
            create table staging.stg_crm__accounts (account_id text, uscc text, owner_id text);
            create table staging.stg_crm__owners (owner_id text, owner_name_hash text);
            insert into staging.stg_erp__customers values ('C1', '91310000MA1FL1MJ2K'), ('C2', null);
            insert into staging.stg_crm__accounts values ('ACC-9', '91310000MA1FL1MJ2K', 'OWN-7');
            insert into staging.stg_crm__owners values ('OWN-7', 'hash-of-a-name');
        """)


def test_the_worklist_in_the_warehouse(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [
        {"customer_id": "C1", "max_dpd": 20, "overdue_amount": 30_000, "exposure": 80_000},
        {"customer_id": "C2", "max_dpd": 100, "overdue_amount": 60_000, "exposure": 60_000},
        {"customer_id": "C3", "max_dpd": 0, "exposure": 90_000},
    ]})
    _crm(fresh_database_url)
    with psycopg.connect(fresh_database_url) as conn:
        from scoring.decisions import ensure_schema

        ensure_schema(conn)
        summary = worklist.build_worklist(conn, POLICY, DAY, run_id="r1")
        rows = worklist.worklist(conn, DAY)
        # the model has scored C1 since: its PD replaces the default
        conn.execute("""create table scoring.customer_scores (as_of_date date, customer_id text, model_version text,
                        is_shadow boolean, pd numeric, grade integer, points numeric, reason_codes jsonb)""")
        conn.execute("insert into scoring.customer_scores values (%s, 'C1', 'pd-v1', false, 0.9, 10, 300, null), "
                     "(%s, 'C1', 'pd-v2', true, 0.01, 4, 700, null)", (DAY, DAY))
        conn.execute("drop table if exists pg_temp.decision_customer_rows")
        worklist.build_worklist(conn, POLICY, DAY, run_id="r2")
        rescored = worklist.worklist(conn, DAY)
    assert summary == {"rows": 2, "by_dunning_level": {"legal": 1, "first_notice": 1}, "default_pd_rows": 2,
                       "without_owner": 1}
    assert [(r["customer_id"], r["dunning_level"], r["owner_id"]) for r in rows] == [
        ("C2", "legal", None), ("C1", "first_notice", "OWN-7")]
    assert all(r["pd_source"] == "default_by_dpd (no model score)" for r in rows)
    assert not any("hash-of-a-name" in str(value) for r in rows for value in r.values())
    assert [(r["customer_id"], float(r["pd"]), r["pd_source"]) for r in rescored] == [
        ("C1", 0.9, "model pd-v1"), ("C2", 0.6, "default_by_dpd (no model score)")]  # shadow scores ignored


def test_limit_proposals_explain_current_versus_proposed(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [
        # base = three months of sales; pd unknown (factor 1.0); bureau 70 (factor 1.0)
        {"customer_id": "UP", "credit_limit": 100_000, "credit_sales_3m": 600_000},  # capped at 150k
        {"customer_id": "DOWN", "credit_limit": 500_000, "credit_sales_3m": 150_000},  # floored at 250k
        {"customer_id": "FIT", "credit_limit": 200_000, "credit_sales_3m": 220_000, "bureau_score": 85},  # 242k
        {"customer_id": "BAD", "credit_limit": 300_000, "is_dishonest_debtor": True},
    ]})
    with psycopg.connect(fresh_database_url) as conn:
        from scoring.decisions import ensure_schema

        ensure_schema(conn)
        evaluation = evaluate(conn, POLICY, DAY)
        summary = limits.propose_limits(conn, evaluation, run_id="r1")
        proposals = {p["customer_id"]: p for p in limits.list_proposals(conn, DAY)}
    assert summary["blacklisted"] == 1 and summary["proposals"] == 4
    assert float(proposals["UP"]["proposed_limit"]) == 150_000
    assert "capped at 1.5 × current limit" in proposals["UP"]["reason"]
    assert proposals["UP"]["reason"].startswith("current 100,000.00 -> proposed 150,000.00 (increase +50,000.00)")
    assert float(proposals["DOWN"]["proposed_limit"]) == 250_000 and "floored at 0.5" in proposals["DOWN"]["reason"]
    # 220k × bureau 1.1 = 242k, rounded down to 240k
    assert float(proposals["FIT"]["proposed_limit"]) == 240_000 and "bureau_factor 1.1" in proposals["FIT"]["reason"]
    assert float(proposals["BAD"]["proposed_limit"]) == 0
    assert "blacklisted: dishonest_debtor v1" in proposals["BAD"]["reason"] and proposals["BAD"]["rule_id"] == \
        "dishonest_debtor"


def test_a_formula_with_missing_data_keeps_the_limit(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "credit_limit": 100_000}]})
    policy = parse_policy(policy_text() + """
limits:
  base: credit_sales_3m / 3
  factors: {risk: case when bureau_score > 90 then 1.2 end}
  caps: {round_to: 1000}
""")
    with psycopg.connect(fresh_database_url) as conn:
        from scoring.decisions import ensure_schema

        ensure_schema(conn)
        limits.propose_limits(conn, evaluate(conn, policy, DAY))
        [proposal] = limits.list_proposals(conn, DAY)
    assert float(proposal["proposed_limit"]) == 100_000 and "no value for risk (missing data)" in proposal["reason"]
