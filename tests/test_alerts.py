"""Alert lifecycle: raised once while the condition holds, acknowledged, resolved by the system when it
clears, raised again when it comes back; suppressed when a source is staler than its SLA."""

from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg
from test_rules import DAY, _root, build_marts, parse_policy, policy_text
from typer.testing import CliRunner

from scoring import alerts
from scoring.rules import registry
from scoring.rules.engine import business_days_between, evaluate

POLICY = parse_policy(policy_text("""
    - {id: breach, version: 2, condition: is_over_limit, severity: medium,
       escalate: [{when: utilisation > 1.2, severity: high}], evidence: [exposure, credit_limit]}
    - {id: bureau_event, condition: bureau_adverse_events_30d > 0, severity: high}
"""))


def day(n: int) -> date:
    return DAY + timedelta(days=n)


def run(url: str, as_of: date):
    with psycopg.connect(url) as conn:
        evaluation = evaluate(conn, POLICY, as_of, run_id=f"run-{as_of}")
        return alerts.apply_evaluation(conn, evaluation)


def alert_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """select alert_id, customer_id, rule_id, rule_version, severity, status, raised_on, resolved_by
               from scoring.alerts order by alert_id"""
        ).fetchall()


def test_alert_lifecycle(fresh_database_url):
    exposures = {0: 130_000, 1: 110_000, 2: 90_000, 3: 105_000}
    build_marts(fresh_database_url, {day(n): [{"customer_id": "C1", "exposure": value},
                                              {"customer_id": "C2", "exposure": 10_000}]
                                     for n, value in exposures.items()})
    url = fresh_database_url

    first = run(url, day(0))
    assert (first.raised, first.by_severity) == (1, {"high": 1})
    [raised] = alert_rows(url)
    assert raised[1:7] == ("C1", "breach", 2, "high", "open", day(0))
    with psycopg.connect(url) as conn:
        alert = alerts.list_alerts(conn, status="open")[0]
    assert alert["evidence"]["exposure"] == 130_000 and alert["evidence"]["credit_limit"] == 100_000

    second = run(url, day(1))  # still over the limit: not raised again
    assert (second.raised, second.still_open) == (0, 1)
    assert len(alert_rows(url)) == 1
    assert run(url, day(1)).raised == 0  # re-running a date adds nothing

    with psycopg.connect(url) as conn:
        acknowledged = alerts.acknowledge(conn, raised[0], by="li.wei")
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == "li.wei"

    third = run(url, day(2))  # back under the limit: resolved by the system
    assert third.resolved == 1
    assert (alert_rows(url)[0][5], alert_rows(url)[0][7]) == ("resolved", "system")

    fourth = run(url, day(3))  # over again: a new alert
    assert fourth.raised == 1
    rows = alert_rows(url)
    assert [(r[5], r[6]) for r in rows] == [("resolved", day(0)), ("open", day(3))]


def test_a_person_resolving_a_standing_condition_is_not_re_raised_until_it_clears(fresh_database_url):
    exposures = {0: 130_000, 1: 130_000, 2: 50_000, 3: 130_000}
    build_marts(fresh_database_url, {day(n): [{"customer_id": "C1", "exposure": value}]
                                     for n, value in exposures.items()})
    run(fresh_database_url, day(0))
    with psycopg.connect(fresh_database_url) as conn:
        resolved = alerts.resolve(conn, alert_rows(fresh_database_url)[0][0], by="zhang.min", note="limit raised")
    assert resolved["resolution"] == "limit raised"
    assert run(fresh_database_url, day(1)).raised == 0  # still holds: the person's resolution stands
    assert run(fresh_database_url, day(2)).raised == 0  # cleared
    assert run(fresh_database_url, day(3)).raised == 1  # came back: raised again
    assert [r[7] for r in alert_rows(fresh_database_url)] == ["zhang.min", None]


def test_moves_that_make_no_sense_are_refused(fresh_database_url):
    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "exposure": 130_000}]})
    run(fresh_database_url, DAY)
    with psycopg.connect(fresh_database_url) as conn:
        alert_id = alert_rows(fresh_database_url)[0][0]
        alerts.resolve(conn, alert_id, by="li.wei")
        for move in (alerts.acknowledge, alerts.resolve):
            try:
                move(conn, alert_id, by="li.wei")
            except alerts.AlertError as error:
                assert "resolved" in str(error)
            else:
                raise AssertionError("a resolved alert moved again")
        try:
            alerts.resolve(conn, 999, by="li.wei")
        except alerts.AlertError as error:
            assert "no alert 999" in str(error)


def test_business_days():
    friday, monday = date(2026, 9, 4), date(2026, 9, 7)
    assert business_days_between(friday, monday) == 1
    assert business_days_between(monday, monday) == 0
    assert business_days_between(date(2026, 8, 31), date(2026, 9, 14)) == 10


def test_rules_on_a_stale_source_are_suppressed_and_flagged(fresh_database_url):
    # Thursday 2026-09-10: ERP delivered that day; the bureau last delivered 2026-08-27 (10 business days,
    # SLA 8). Both customers hit: the ERP rule raises, the bureau rule is suppressed.
    build_marts(fresh_database_url, {DAY: [
        {"customer_id": "C1", "exposure": 130_000, "bureau_adverse_events_30d": 1},
    ]}, delivered={"erp": DAY, "bank": DAY, "bureau": date(2026, 8, 27), "crm": DAY})
    summary = run(fresh_database_url, DAY)
    # the blacklist rule reads the bureau too (dishonest-debtor list): suppressed as well
    assert summary.raised == 1 and set(summary.suppressed_rules) == {"bureau_event", "dishonest_debtor"}
    expected = "bureau: latest delivery 2026-08-27, 10 business days old (SLA 8)"
    assert expected in summary.suppressed_rules["bureau_event"]
    assert [r[2] for r in alert_rows(fresh_database_url)] == ["breach"]
    with psycopg.connect(fresh_database_url) as conn:
        status = conn.execute("select status, detail from scoring.rule_evaluations where rule_id = 'bureau_event'"
                              ).fetchone()
        assert status[0] == "suppressed" and "stale source" in status[1]
        assert alerts.latest_suppression(conn)[1].keys() == {"bureau_event", "dishonest_debtor"}


def test_a_stale_source_does_not_resolve_its_alerts_either(fresh_database_url):
    build_marts(fresh_database_url, {day(0): [{"customer_id": "C1", "bureau_adverse_events_30d": 1}]})
    assert run(fresh_database_url, day(0)).raised == 1
    # forty days on: the event is out of the 30-day window, but the bureau feed stopped long ago
    build_marts(fresh_database_url, {day(40): [{"customer_id": "C1", "bureau_adverse_events_30d": 0}]},
                delivered={"erp": day(40), "bank": day(40), "crm": day(40)})
    summary = run(fresh_database_url, day(40))
    assert "bureau_event" in summary.suppressed_rules and summary.resolved == 0
    assert alert_rows(fresh_database_url)[0][5] == "open"


def test_alert_commands(fresh_database_url, fresh_settings):
    from credit_dw.commands.alerts import app

    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "exposure": 130_000},
                                           {"customer_id": "C2", "exposure": 110_000}]})
    run(fresh_database_url, DAY)
    fresh_settings(database_url=fresh_database_url)
    runner, root = CliRunner(), _root(app, "alerts")
    listed = json.loads(runner.invoke(root, ["alerts", "list", "--status", "open", "--severity", "high", "--json"]
                                      ).stdout)
    assert [a["customer_id"] for a in listed["alerts"]] == ["C1"]
    alert_id = str(listed["alerts"][0]["alert_id"])
    acked = runner.invoke(root, ["alerts", "ack", alert_id, "--by", "li.wei"])
    assert acked.exit_code == 0 and "acknowledged by li.wei" in acked.stdout
    done = runner.invoke(root, ["alerts", "resolve", alert_id, "--by", "li.wei", "--note", "paid"])
    assert done.exit_code == 0 and "resolved" in done.stdout
    again = runner.invoke(root, ["alerts", "ack", alert_id, "--by", "li.wei"])
    assert again.exit_code == 2 and "only an open alert" in again.stderr
    table = runner.invoke(root, ["alerts", "list"])
    assert table.exit_code == 0 and "C2" in table.stdout
    with psycopg.connect(fresh_database_url) as conn:
        events = conn.execute("select event_type from scoring.customer_timeline where customer_id = 'C1' "
                              "order by event_type").fetchall()
        audited = conn.execute("select action, object, details ->> 'by' from audit.events "
                               "where action like 'cli_alert_%' order by event_id").fetchall()
    assert [e[0] for e in events] == ["alert_acknowledged", "alert_raised", "alert_resolved"]
    assert audited == [("cli_alert_ack", f"scoring.alerts/{alert_id}", "li.wei"),
                       ("cli_alert_resolve", f"scoring.alerts/{alert_id}", "li.wei")]


def test_the_nightly_entry_point_bootstraps_the_bundled_policy(fresh_database_url):
    from scoring.decisions import run_nightly_decisions

    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "exposure": 130_000, "max_dpd": 40,
                                            "overdue_amount": 20_000}]})
    result = run_nightly_decisions(DAY, database_url=fresh_database_url, run_id="r1")
    assert result["raised"] >= 2 and result["policy"]["rules"]["limit_breach"]["status"] == "evaluated"
    assert result["policy"]["rules"]["grade_downgrade"]["status"] == "unavailable"  # no PD table yet
    assert result["worklist"]["rows"] == 1
    with psycopg.connect(fresh_database_url) as conn:
        assert registry.in_force(conn, "credit_policy") is not None
        warned = conn.execute("""select customer_id, severity, evidence ->> 'utilisation', run_id
                                 from scoring.credit_warnings where as_of_date = %s and rule_id = 'limit_breach'""",
                              (DAY,)).fetchall()
        by = conn.execute("select activated_by from scoring.policy_versions").fetchone()[0]
    assert by.startswith("system")
    assert [(c, severity, float(u), run) for c, severity, u, run in warned] == [("C1", "high", 1.3, "r1")]
    again = run_nightly_decisions(DAY, database_url=fresh_database_url, run_id="r2")
    assert again["raised"] == 0
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select customer_id, run_id from scoring.credit_warnings where rule_id = 'limit_breach'"
                            ).fetchall() == [("C1", "r2")], "a re-run replaces the day's warnings"


def test_credit_warnings_replace_the_legacy_table_and_follow_the_latest_active_evaluation(fresh_database_url):
    from scoring.warnings import ensure_warnings

    build_marts(fresh_database_url, {DAY: [{"customer_id": "C1", "exposure": 130_000},
                                           {"customer_id": "C2", "exposure": 50_000}]})
    narrower = parse_policy(policy_text("""
    - {id: breach, version: 3, condition: utilisation > 1.4, severity: medium}
"""))
    with psycopg.connect(fresh_database_url) as conn:
        # a warehouse from before: the legacy table with a row of its own
        conn.execute("""create schema if not exists scoring;
                        create table scoring.credit_warnings (as_of_date date, customer_id text, rule_id text)""")
        conn.execute("insert into scoring.credit_warnings values (%s, 'OLD', 'limit_breach')", (DAY,))
        evaluate(conn, POLICY, DAY, run_id="first")
        evaluate(conn, POLICY, DAY, is_shadow=True, run_id="shadow")
        ensure_warnings(conn)
        first = conn.execute("select customer_id, rule_id, rule_version from scoring.credit_warnings").fetchall()
        conn.commit()  # each run is a transaction of its own: "latest" is by evaluation time
        evaluate(conn, narrower, DAY, run_id="second")  # a new policy, the same day re-run
        second = conn.execute("select customer_id from scoring.credit_warnings").fetchall()
        kind = conn.execute("select relkind from pg_class where oid = 'scoring.credit_warnings'::regclass"
                            ).fetchone()[0]
    assert kind == "v"
    assert first == [("C1", "breach", 2)], "the shadow evaluation and the legacy rows are not warnings"
    assert second == [], "the latest evaluation of the day wins"


def test_alert_tables_are_not_altered_once_they_exist(fresh_database_url):
    """Read paths run as roles that may not run DDL: ensure_alerts must not try once the tables exist."""
    import uuid

    from psycopg import sql

    role = sql.Identifier(f"alerts_reader_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        alerts.ensure_alerts(conn)
        conn.execute(sql.SQL("create role {} nologin").format(role))
        try:
            conn.execute(sql.SQL("grant usage on schema scoring to {role}; "
                                 "grant select on scoring.alerts, scoring.alert_runs to {role}").format(role=role))
            conn.execute(sql.SQL("set role {}").format(role))
            alerts.ensure_alerts(conn)  # the DDL needs CREATE on the schema and ownership of the table
            assert alerts.list_alerts(conn) == []
            assert alerts.latest_suppression(conn) == (None, {})
            conn.execute("reset role")
        finally:
            conn.execute("reset role")
            conn.execute(sql.SQL("drop owned by {}").format(role))
            conn.execute(sql.SQL("drop role {}").format(role))
