"""Policy rules: expression checking (malicious input included), policy files, activation and audit,
simulation on history, shadow comparison, onboarding. Each test builds the few mart rows it needs."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from scoring.rules import registry
from scoring.rules.engine import compare, evaluate, simulate
from scoring.rules.expressions import ExpressionError, ParamSink, parse
from scoring.rules.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from scoring.rules.targets import TARGETS, undocumented_columns

CUSTOMER = TARGETS["customer"]
DAY = date(2026, 9, 10)

EXPOSURE_DDL = """
create schema if not exists marts;
create schema if not exists intermediate;
create schema if not exists raw;
create table marts.fct_credit_exposure_daily (
    as_of_date date, customer_id text, customer_name text, currency text, open_receivables numeric,
    open_orders numeric, unapplied_cash numeric, exposure numeric, credit_limit numeric, utilisation numeric,
    headroom numeric, is_over_limit boolean);
create table marts.customer_credit_profile_history (
    as_of_date date, customer_id text, max_days_past_due integer, overdue_receivables numeric,
    dso_count_back numeric, dso_simple numeric, dso_simple_change_3m numeric, collection_effectiveness_index numeric,
    credit_sales numeric, average_days_beyond_terms_12m numeric, share_paid_late_12m numeric,
    max_days_past_due_3m integer, limit_breach_days_90d integer, bureau_event_count_90d integer,
    bureau_score numeric, bureau_score_change_90d numeric, registration_status_code text, has_write_off boolean,
    is_in_default boolean);
create table intermediate.int_bureau_reports_mapped_to_customers (
    subject_id text, report_date date, customer_id text, registration_status_code text, bureau_score numeric,
    litigation_count integer, is_dishonest_debtor boolean, is_business_anomaly boolean,
    admin_penalty_count integer, known_date date);
create table intermediate.int_bureau_events_mapped_to_customers (
    event_id text, customer_id text, event_date date, event_type text, event_amount numeric, known_date date);
create table raw.load_manifest (batch_id serial, source text, business_date date, status text);
"""


def build_marts(url: str, days: dict[date, list[dict]], *, delivered: dict[str, date] | None = None) -> None:
    """Minimal marts: ``days`` maps a business date to customer rows (exposure and profile columns);
    ``delivered`` the latest business date each source delivered (default: every source, each of the days)."""
    with psycopg.connect(url) as conn:
        conn.execute(EXPOSURE_DDL) if conn.execute(
            "select to_regclass('marts.fct_credit_exposure_daily')").fetchone()[0] is None else None
        for day, rows in days.items():
            for row in rows:
                exposure, limit = row.get("exposure", 0), row.get("credit_limit", 100_000)
                conn.execute(
                    """insert into marts.fct_credit_exposure_daily values
                       (%s, %s, 'name', 'CNY', %s, 0, 0, %s, %s, %s, %s, %s)""",
                    (day, row["customer_id"], exposure, exposure, limit,
                     round(exposure / limit, 4) if limit else None, limit - exposure, exposure > limit),
                )
                conn.execute(
                    """insert into marts.customer_credit_profile_history
                           (as_of_date, customer_id, max_days_past_due, overdue_receivables, dso_count_back,
                            dso_simple, dso_simple_change_3m, collection_effectiveness_index, credit_sales,
                            share_paid_late_12m, bureau_score, registration_status_code)
                       values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (day, row["customer_id"], row.get("max_dpd", 0), row.get("overdue_amount", 0), row.get("dso", 40),
                     row.get("dso", 40), row.get("dso_change_3m", 0), row.get("cei", 90),
                     row.get("credit_sales_3m", 300_000), row.get("share_paid_late_12m", 0.1),
                     row.get("bureau_score", 70), row.get("registration_status_code", "active")),
                )
                conn.execute(
                    """insert into intermediate.int_bureau_reports_mapped_to_customers
                           (subject_id, report_date, customer_id, is_dishonest_debtor, litigation_count, known_date)
                       values ('S-' || %s, %s, %s, %s, 0, %s)""",
                    (row["customer_id"], day, row["customer_id"], row.get("is_dishonest_debtor", False), day),
                )
                for number in range(row.get("bureau_adverse_events_30d", 0)):
                    conn.execute(
                        """insert into intermediate.int_bureau_events_mapped_to_customers
                           values (%s, %s, %s, 'litigation', %s, %s)""",
                        (f"E-{row['customer_id']}-{day}-{number}", row["customer_id"], day,
                         row.get("litigation_amount_30d", 0), day),
                    )
        deliveries = [(source, latest) for source, latest in delivered.items()] if delivered is not None else [
            (source, day) for day in days for source in ("erp", "bank", "bureau", "crm")]
        for source, business_date in deliveries:
            conn.execute("insert into raw.load_manifest (source, business_date, status) values (%s, %s, 'loaded')",
                         (source, business_date))


def policy_text(warnings: str = "", blacklist: str | None = None, version: str = "t1") -> str:
    """A small policy: ``warnings`` and ``blacklist`` are YAML list items, one per line."""
    blacklist = blacklist if blacklist is not None else "- {id: dishonest_debtor, condition: is_dishonest_debtor}"

    def block(items: str) -> str:
        lines = textwrap.dedent(items).strip().splitlines()
        return "\n".join("  " + line for line in lines) if lines else "  []"

    return (f'rule_set: credit_policy\nversion: "{version}"\n'
            f"blacklist:\n{block(blacklist)}\nwarnings:\n{block(warnings)}\n")


def write_policy(tmp_path: Path, text: str, name: str = "policy.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- expressions ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ("1=1; drop table x", "semicolon"),
    ("exposure > 0; drop table marts.fct_credit_exposure_daily", "semicolon"),
    ("pg_sleep(10) is null", "function pg_sleep"),
    ("(select count(*) from pg_user) > 0", "subquery"),
    ("exists (select 1 from pg_user)", "subquery"),
    ("current_setting('x') = 'y'", "function current_setting"),
    ("exposure > 0 -- and credit_limit > 0", "comment"),
    ("exposure > 0 /* hidden */", "comment"),
    ("exposure /**/> 0", "comment"),
    ('"PII_col" is not null', "'PII_col', which is not allowed"),
    ("legal_rep_id_number_hash is not null", "not allowed"),
    ("customer_name = 'x'", "'customer_name', which is not allowed"),
    ("exposure::regclass is null", "'::'"),
    ("cast(exposure as regclass) is null", "casts to REGCLASS"),
    ("exposure > 0 or true", "always true"),
    ("1 = 1", "uses no column"),
    ("marts.exposure > 0", "qualifies the column"),
    ("exposure > $1", "'$'"),
    ("exposure > %s", "'%'"),
    ("exposure > :x", "parameter placeholder"),
    ("exposure > 0 ；drop table x", "U+FF1B"),  # full-width semicolon
    ("ｅxposure > 0", "U+FF45"),  # full-width letter
    ("exposurе > 0", "U+0435"),  # Cyrillic e
    ("exposure > 0\u202e", "U+202E"),  # right-to-left override
    ("exposure\u200b > 0", "U+200B"),  # zero-width space
    ("registration_status_code = 'a\u200bb'", "invisible"),
    ("exposure > 0 and lo_import('/etc/passwd') is null", "function lo_import"),
    ("exposure > all(array[1])", "'['"),
    ("now() > exposure", "function"),
    ("exposure", "not a condition"),
    ("'abc", "unterminated"),
    ("x'41' = registration_status_code", "HexString"),
    ("E'\\x41' = registration_status_code", "backslash"),
    ("(" * 900 + "exposure > 0" + ")" * 900, "nested too deeply"),
    ("exposure > 0 and " * 120 + "exposure > 1", "longer than"),
    ("", "empty"),
])
def test_malicious_and_invalid_expressions_are_rejected(text, problem):
    with pytest.raises(ExpressionError) as error:
        parse(text, CUSTOMER, boolean=True)
    assert problem in str(error.value)


def test_a_checked_expression_renders_only_allow_listed_columns_and_parameters():
    checked = parse("utilisation > 0.9 and registration_status_code in ('active', 'x'' or 1=1 --') "
                    "and exposure / credit_limit >= 1", CUSTOMER, boolean=True)
    params = ParamSink()
    sql = checked.render("customer", params)
    assert "'" not in sql and "--" not in sql and "or 1=1" not in sql.lower()
    assert '"customer"."utilisation"' in sql and "NULLIF" in sql
    assert "x' or 1=1 --" in params.values.values()
    assert checked.columns == ("utilisation", "registration_status_code", "exposure", "credit_limit")


def test_the_allow_list_holds_documented_columns_only():
    findings = undocumented_columns()
    assert not [f for f in findings if f.startswith(("currency", "exposure", "utilisation", "credit_limit"))]
    assert not [f for f in findings if "personal data" in f]


# --- policy files -----------------------------------------------------------------------------------

def test_the_bundled_policy_is_valid():
    policy = load_policy(DEFAULT_POLICY)
    assert policy.name == "credit_policy" and len(policy.content_hash) == 64
    assert {r.id for r in policy.blacklist} >= {"dishonest_debtor", "deregistered", "fraud_flag"}
    assert policy.sla == {"erp": 1, "bank": 1, "bureau": 8, "crm": 8}


def test_an_invalid_rule_is_rejected_naming_the_rule_and_the_problem():
    text = policy_text("""
        - id: sneaky
          condition: exposure > 0 or pg_sleep(10) is null
        - id: nosy
          condition: '"PII_col" is not null'
        - id: ok_rule
          condition: utilisation > 0.9
          severity: urgent
    """)
    with pytest.raises(PolicyError) as error:
        parse_policy(text, source="bad.yml")
    message = str(error.value)
    assert "rule 'sneaky' (warnings[0]) condition: calls the function pg_sleep()" in message
    assert "rule 'nosy' (warnings[1]) condition: uses the column 'PII_col'" in message
    assert "rule 'ok_rule' (warnings[2]): severity must be one of" in message


def test_content_hash_ignores_comments_and_layout():
    text = policy_text("- {id: breach, condition: is_over_limit}")
    assert parse_policy(text).content_hash == parse_policy("# a comment\n" + text + "\n\n").content_hash
    assert parse_policy(text).content_hash != parse_policy(text.replace("is_over_limit", "not is_over_limit")
                                                           ).content_hash


# --- in the warehouse -------------------------------------------------------------------------------

def history(days: int, rows_for) -> dict[date, list[dict]]:
    start = DAY - timedelta(days=days - 1)
    return {start + timedelta(days=n): rows_for(n) for n in range(days)}


def test_an_injection_attempt_in_a_literal_is_just_a_value(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "registration_status_code": "active"}]})
    policy = parse_policy(policy_text(
        "- {id: odd, condition: \"registration_status_code = 'x'' or 1=1 or ''a''=''a'\"}"))
    with psycopg.connect(fresh_database_url) as conn:
        evaluation = evaluate(conn, policy, DAY, store=False)
        assert conn.execute("select count(*) from marts.fct_credit_exposure_daily").fetchone()[0] == 1
    assert {o.rule.id: len(o.hits) for o in evaluation.outcomes}["odd"] == 0


def test_simulate_counts_hits_per_rule_and_day(fresh_database_url, fresh_settings, tmp_path):
    # C1 over its limit on days 2..5; C2 above 90% on days 0..5 (for_days 3 -> hits from day 2);
    # C3 more than 30 days past due on day 4 only.
    build_marts(fresh_database_url, history(6, lambda n: [
        {"customer_id": "C1", "exposure": 120_000 if n >= 2 else 50_000},
        {"customer_id": "C2", "exposure": 95_000},
        {"customer_id": "C3", "max_dpd": 45 if n == 4 else 0},
    ]))
    path = write_policy(tmp_path, policy_text("""
        - {id: breach, condition: is_over_limit}
        - {id: high_use, condition: utilisation > 0.9, for_days: 3}
        - {id: late, condition: max_dpd > 30}
        - {id: downgrade, condition: grade_notches_down_30d >= 2}
    """))
    first = DAY - timedelta(days=5)
    with psycopg.connect(fresh_database_url) as conn:
        report = simulate(conn, load_policy(path), first, DAY)
        assert conn.execute("select to_regclass('scoring.rule_hits')").fetchone()[0] is None  # nothing stored
    rules = {r["rule_id"]: r for r in report["rules"]}
    per_day = {rule: list(rules[rule]["hits_per_day"].values()) for rule in ("breach", "high_use", "late")}
    assert per_day["breach"] == [0, 0, 1, 1, 1, 1]
    assert per_day["high_use"] == [0, 0, 1, 1, 2, 2]  # C2 from day 2 (its 3rd day), C1 from day 4 (above since 2)
    assert per_day["late"] == [0, 0, 0, 0, 1, 0]
    assert rules["late"]["distinct_customers"] == 1
    assert rules["downgrade"]["status"] == "unavailable" and "customer_scores" in rules["downgrade"]["detail"]
    assert report["customers_per_day"][DAY.isoformat()] == 3

    from credit_dw.commands.rules import app

    fresh_settings(database_url=fresh_database_url)
    result = CliRunner().invoke(_root(app, "rules"), ["rules", "simulate", str(path), "--from", first.isoformat(),
                                                      "--to", DAY.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rules"][0]["rule_id"] == "dishonest_debtor"


def _root(sub_app, name: str) -> typer.Typer:
    root = typer.Typer()
    root.add_typer(sub_app, name=name)

    @root.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps typer from collapsing the group
        pass

    return root


def test_activation_is_versioned_and_audited(fresh_database_url, tmp_path):
    first = parse_policy(policy_text("- {id: breach, condition: is_over_limit}"), source="v1.yml")
    same = parse_policy(policy_text("- {id: breach, condition: is_over_limit}") + "\n# comment", source="v1b.yml")
    unbumped = parse_policy(policy_text("- {id: breach, condition: utilisation > 1.1}", version="t2"))
    bumped = parse_policy(policy_text("- {id: breach, version: 2, condition: utilisation > 1.1}\n"
                                      "- {id: late, condition: max_dpd > 30}", version="t2"))
    with psycopg.connect(fresh_database_url) as conn:
        assert registry.activate(conn, first, by="alice").changed
        assert not registry.activate(conn, same, by="bob").changed  # same content hash: nothing recorded
        with pytest.raises(PolicyError, match="rule 'breach': its content changed but its version did not"):
            registry.activate(conn, unbumped, by="alice")
        result = registry.activate(conn, bumped, by="carol")
        assert result.changes["changed"] == ["breach"] and result.changes["added"] == ["late"]
        versions = conn.execute("select version, content_hash, activated_by, retired_at is null "
                                "from scoring.policy_versions order by policy_version_id").fetchall()
        audit = conn.execute("select from_hash, to_hash, changed_by, changes from scoring.policy_audit "
                             "order by audit_id").fetchall()
        assert registry.in_force(conn, "credit_policy").content_hash == bumped.content_hash
        events = conn.execute("select action, object, details ->> 'version', details ->> 'by' from audit.events "
                              "order by event_id").fetchall()
    assert events == [("policy_activate", "scoring.policy/credit_policy", "t1", "alice"),
                      ("policy_activate", "scoring.policy/credit_policy", "t2", "carol")], "the audit log has both"
    assert [(v[0], v[2], v[3]) for v in versions] == [("t1", "alice", False), ("t2", "carol", True)]
    assert len(audit) == 2 and audit[1][0] == first.content_hash and audit[1][1] == bumped.content_hash
    assert audit[1][2] == "carol" and audit[1][3]["changed"] == ["breach"]


def test_evaluations_record_rule_and_rule_set_versions(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "exposure": 150_000}]})
    policy = parse_policy(policy_text("- {id: breach, version: 3, condition: is_over_limit}"))
    with psycopg.connect(fresh_database_url) as conn:
        evaluate(conn, policy, DAY, run_id="run-1")
        hit = conn.execute("select rule_id, rule_version, rule_set_version, content_hash, evidence "
                           "from scoring.rule_hits").fetchone()
        counted = conn.execute("select rule_id, status, hits from scoring.rule_evaluations order by rule_id").fetchall()
    assert hit[:4] == ("breach", 3, "t1", policy.content_hash)
    assert hit[4]["is_over_limit"] is True
    assert counted == [("breach", "evaluated", 1), ("dishonest_debtor", "evaluated", 0)]


def test_a_shadow_rule_set_is_stored_beside_but_raises_no_alert(fresh_database_url, fresh_settings, tmp_path):
    from scoring.decisions import run_nightly_decisions

    build_marts(fresh_database_url, {DAY: [
        {"customer_id": "C1", "exposure": 150_000}, {"customer_id": "C2", "exposure": 95_000},
    ]})
    active = parse_policy(policy_text("- {id: breach, condition: is_over_limit}"))
    shadow_text = policy_text("- {id: breach, version: 2, condition: utilisation > 0.9}", version="t2")
    shadow = parse_policy(shadow_text)
    with psycopg.connect(fresh_database_url) as conn:
        registry.activate(conn, active, by="alice")
        registry.activate(conn, shadow, by="alice", mode="shadow")
    run_nightly_decisions(DAY, database_url=fresh_database_url, run_id="r1")
    with psycopg.connect(fresh_database_url) as conn:
        hits = conn.execute("select is_shadow, customer_id from scoring.rule_hits where rule_id = 'breach' "
                            "order by 1, 2").fetchall()
        alerts = conn.execute("select customer_id, rule_version, content_hash from scoring.alerts").fetchall()
        report = compare(conn, active, shadow, DAY)
    assert hits == [(False, "C1"), (True, "C1"), (True, "C2")]
    assert alerts == [("C1", 1, active.content_hash)]
    breach = next(r for r in report["rules"] if r["rule_id"] == "breach")
    assert (breach["active_hits"], breach["shadow_hits"], breach["only_shadow"]) == (1, 2, ["C2"])

    from credit_dw.commands.rules import app

    path = write_policy(tmp_path, shadow_text)
    fresh_settings(database_url=fresh_database_url)
    result = CliRunner().invoke(_root(app, "rules"), ["rules", "compare", "active", str(path), "--date",
                                                      DAY.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["shadow"]["content_hash"] == shadow.content_hash


def test_rules_validate_command(tmp_path):
    from credit_dw.commands.rules import app

    runner = CliRunner()
    good = runner.invoke(_root(app, "rules"), ["rules", "validate", str(DEFAULT_POLICY)])
    assert good.exit_code == 0 and "valid" in good.stdout
    bad = write_policy(tmp_path, policy_text("- {id: evil, condition: \"exposure > 0; drop table x\"}"))
    result = runner.invoke(_root(app, "rules"), ["rules", "validate", str(bad)])
    assert result.exit_code == 2
    assert "rule 'evil'" in result.stderr and "semicolon" in result.stderr


# --- onboarding ---------------------------------------------------------------------------------------

GOOD_APPLICATION = {
    "applicant": "Shanghai Example Trading Co., Ltd.", "established_date": "2012-05-01",
    "registered_capital": 20_000_000, "industry": "manufacturing", "registration_status": "存续",
    "litigation": {"count": 0, "amount": 0}, "lists": {"dishonest_debtor": False, "business_anomaly": False},
    "bureau_score": 85, "requested_limit": 800_000,
}


def _onboard(tmp_path: Path, payload) -> tuple[int, str, str]:
    from credit_dw.commands.onboard import app

    path = tmp_path / "application.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    result = CliRunner().invoke(_root(app, "onboard"), ["onboard", "--json", str(path), "--date", "2026-09-30"])
    return result.exit_code, result.stdout, result.stderr


def test_onboarding_decides_with_the_same_policy(fresh_database_url, fresh_settings, tmp_path):
    fresh_settings(database_url=fresh_database_url)
    code, out, _ = _onboard(tmp_path, GOOD_APPLICATION)
    assert code == 0, out
    approved = json.loads(out)
    assert approved["decision"] == "approve" and approved["grade"] <= 5
    assert 0 < approved["initial_limit"] <= 800_000 and approved["initial_limit"] % 10_000 == 0
    assert approved["pd_source"].startswith("policy scorecard application_scorecard")

    blacklisted = {**GOOD_APPLICATION, "lists": {"dishonest_debtor": True}}
    declined = json.loads(_onboard(tmp_path, blacklisted)[1])
    assert declined["decision"] == "decline" and declined["initial_limit"] == 0
    assert declined["rules_hit"][0]["rule_id"] == "dishonest_debtor" and "blacklisted" in declined["reasons"][0]

    young = {**GOOD_APPLICATION, "established_date": "2025-06-01"}
    referred = json.loads(_onboard(tmp_path, young)[1])
    assert referred["decision"] == "refer" and "refer_young_company" in [r["rule_id"] for r in referred["rules_hit"]]

    with psycopg.connect(fresh_database_url) as conn:
        recorded = conn.execute("select decision from scoring.application_decisions order by decision_id").fetchall()
    assert [r[0] for r in recorded] == ["approve", "decline", "refer"]


@pytest.mark.parametrize(("payload", "field"), [
    ({**GOOD_APPLICATION, "requested_limit": -5}, "requested_limit"),
    ({k: v for k, v in GOOD_APPLICATION.items() if k != "requested_limit"}, "requested_limit"),
    ({**GOOD_APPLICATION, "bureau_score": "high"}, "bureau_score"),
    ({**GOOD_APPLICATION, "lists": {"dishonest": True}}, "lists.dishonest"),
    ({**GOOD_APPLICATION, "registration_status": "sleeping"}, "registration_status"),
    ({**GOOD_APPLICATION, "uscc": "91310000MA1FL0000X"}, "uscc"),
    ("{not json", "not valid JSON"),
])
def test_a_malformed_application_exits_2_naming_the_field(tmp_path, payload, field):
    code, out, err = _onboard(tmp_path, payload)
    assert code == 2
    assert field in json.loads(out)["error"] and field in err
