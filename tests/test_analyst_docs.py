"""docs/analysts.md runs: every ```sql block against a warehouse built from the sandbox (ingestion,
dbt, entity resolution when present, the nightly decisions), as the role an analyst or a BI login
has; and the nightly report builds on those real marts.

Block conventions in the page: a first line ``-- as admin`` runs as the owner inside a transaction
that is rolled back (role DDL); ``-- as bi_reader`` runs as a login in role bi_reader created in
that same kind of transaction; ``-- needs: schema.table`` is skipped while that table does not exist
(the PD model's); every other block runs as ``analyst``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from sandbox.generator import generate

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "analysts.md"
START, END = date(2026, 8, 3), date(2026, 9, 30)
BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def sql_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def _dbt(home: Path, *args: str) -> None:
    from dbt.cli.main import dbtRunner

    from credit_dw.dbt import DBT_PROJECT_DIR

    outcome = dbtRunner().invoke([
        *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home / "target"), "--log-path", str(home / "logs"), "--quiet",
        "--vars", json.dumps({"as_of_date": END.isoformat()}),
    ])
    failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if str(r.status) not in {"success", "pass"}]
    assert outcome.success and not failed, (outcome.exception, failed)


@pytest.fixture(scope="module")
def built(warehouse_url, tmp_path_factory) -> str:
    """A warehouse database of this module's own, built for END from a tiny sandbox."""
    from credit_dw import access
    from credit_dw.dbt import profile_env
    from ingestion.load import ingest
    from scoring.decisions import run_nightly_decisions

    server = make_url(warehouse_url)
    name = f"{server.database}_docs_{uuid.uuid4().hex[:6]}"
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = server.set(database=name).render_as_string(hide_password=False)
    home = tmp_path_factory.mktemp("docs_home")
    generate(home / "sandbox", start=START, end=END, seed=7, scale="tiny")
    saved = {key: os.environ.get(key) for key in profile_env(url)}
    os.environ.update(profile_env(url))
    try:
        ingest(END, landing_dir=home / "sandbox" / "landing", database_url=url, run_id=f"docs-{END}")
        _dbt(home, "run")
        try:  # the customer master, when the entity resolution step is there
            from mdm.resolve import resolve_entities
        except ImportError:
            resolve_entities = None
        if resolve_entities is not None:
            resolve_entities(url)
            _dbt(home, "run", "--select", "path:models/marts/customers")
        run_nightly_decisions(END, database_url=url)
        access.apply(url)
        yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def run_block(conn: psycopg.Connection, block: str, role: str = "analyst") -> int | None:
    """Rows the block's last statement returned; None when skipped. Always rolled back."""
    first = block.strip().splitlines()[0]
    needs = re.match(r"--\s*needs:\s*(\S+)", first)
    if needs and not conn.execute("select to_regclass(%s) is not null", (needs.group(1),)).fetchone()[0]:
        return None
    with conn.transaction(force_rollback=True):
        if first.startswith("-- as admin"):
            conn.execute(block)
            return 0
        if first.startswith("-- as bi_reader"):
            login = f"bi_test_{uuid.uuid4().hex[:6]}"
            conn.execute(sql.SQL("create role {} login password 'x' in role bi_reader").format(sql.Identifier(login)))
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(login)))
        else:
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        cursor = conn.execute(block)
        return len(cursor.fetchall()) if cursor.description else 0


def test_the_page_has_the_recipes_it_promises():
    blocks = sql_blocks()
    text = "\n".join(blocks)
    assert len(blocks) >= 15
    for needle in ("marts.ar_open_items_as_of(", "is_over_limit", "portfolio_roll_rates", "dso_simple",
                   "scoring.alerts", "scoring.collections_worklist", "in role bi_reader"):
        assert needle in text, needle
    assert sum(block.startswith("-- as bi_reader") for block in blocks) == 1


def test_every_recipe_runs_against_the_published_marts(built):
    results: dict[int, int | None] = {}
    failures = []
    with psycopg.connect(built) as conn:
        for number, block in enumerate(sql_blocks(), start=1):
            try:
                results[number] = run_block(conn, block)
            except psycopg.Error as error:
                failures.append(f"block {number} ({block.strip().splitlines()[0][:60]}): {error}")
    assert not failures, "\n".join(failures)
    ran = {number: rows for number, rows in results.items() if rows is not None}
    assert results[1] == 30, "exposure as of the date: one row per sandbox customer"
    assert sum(1 for rows in ran.values() if rows) >= 12, results  # most recipes find data in a sandbox month


def test_analysts_may_call_the_open_items_function(built):
    with psycopg.connect(built) as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role analyst")
        assert conn.execute("select count(*) from marts.ar_open_items_as_of(%s)", (END,)).fetchone()[0] > 0


def test_the_report_builds_on_real_marts(built, tmp_path):
    from reporting import build_report

    result = build_report(END, database_url=built, out_dir=tmp_path, pdf=None)
    assert result["complete"], result["notes"]
    assert {"exposure-by-risk", "aging-waterfall", "top-exposures", "quarantine"} <= set(result["charts"])
    assert result["summary"]["customers"] == 30 and result["summary"]["checks_run"] is not None
    html = Path(result["html"]).read_text(encoding="utf-8")
    assert "https://" not in html and "http://" not in html
