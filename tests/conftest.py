"""Test session set-up: a uniquely named warehouse database (and its Airflow metadata database) on the
server named by ``CREDIT_DW_TEST_DATABASE_URL``, dropped when the session ends.

The environment is set before any project module reads its settings, so every function under test
sees the session's database and a private ``CREDIT_DW_HOME``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

TEST_SERVER_URL = os.environ.get(
    "CREDIT_DW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Under pytest-xdist (`make test` runs two workers) each worker is a session of its own: its own
# warehouse, Airflow metadata database and home, so that tests in one never see the other's runs.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SESSION_DATABASE = f"credit_dw_test_{uuid.uuid4().hex[:10]}{'_' + _WORKER if _WORKER else ''}"
SESSION_HOME = Path(tempfile.mkdtemp(prefix=f"credit_dw_test_{_WORKER}_" if _WORKER else "credit_dw_test_"))


def _url_for(database: str) -> str:
    return (
        make_url(TEST_SERVER_URL)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


WAREHOUSE_URL = _url_for(SESSION_DATABASE)
AIRFLOW_URL = _url_for(f"{SESSION_DATABASE}_airflow")

os.environ["CREDIT_DW_DATABASE_URL"] = WAREHOUSE_URL
os.environ["CREDIT_DW_AIRFLOW_DATABASE_URL"] = AIRFLOW_URL
os.environ["CREDIT_DW_HOME"] = str(SESSION_HOME)
os.environ.pop("CREDIT_DW_LANDING_DIR", None)
# A transient failure in a test run retries after seconds, not the production half-minute.
os.environ["CREDIT_DW_RETRY_DELAY_SECONDS"] = "2"

# Airflow reads its configuration on first import: point it at this session's metadata database now.
from credit_dw.orchestrator import configure_airflow_environment  # noqa: E402

configure_airflow_environment()


def _is_xdist_controller(session: pytest.Session) -> bool:
    """True in the process that only distributes tests to pytest-xdist workers (``-n N``, N > 0)."""
    return not hasattr(session.config, "workerinput") and bool(getattr(session.config.option, "numprocesses", 0))


def _admin() -> psycopg.Connection:
    return psycopg.connect(_url_for("postgres"), autocommit=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_xdist_controller(session):
        return  # it runs no test: its workers create their own databases
    with _admin() as conn:
        for name in (SESSION_DATABASE, f"{SESSION_DATABASE}_airflow"):
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_xdist_controller(session):
        return
    with _admin() as conn:
        for name in (SESSION_DATABASE, f"{SESSION_DATABASE}_airflow"):
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def warehouse_url() -> str:
    """libpq URL of this session's warehouse database."""
    return WAREHOUSE_URL


@pytest.fixture(scope="session")
def session_home() -> Path:
    return SESSION_HOME


@pytest.fixture
def fresh_settings(monkeypatch):
    """Change CREDIT_DW_* variables for one test: set them with the returned function."""
    from credit_dw.settings import get_settings

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(f"CREDIT_DW_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def fresh_database_url():
    """An empty database of its own for one test, dropped afterwards."""
    name = f"{SESSION_DATABASE}_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield _url_for(name)
    with _admin() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free local port (aiosmtpd); ``.messages`` holds what it received,
    as ``email.message.Message`` objects."""
    import email
    import socket

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


@pytest.fixture
def webhook_server():
    """A real HTTP server on a free local port; ``.requests`` holds (headers, body) of each POST
    (headers case-insensitive), ``.statuses`` the answers to give in turn (then 200)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Receiver(ThreadingHTTPServer):
        requests: list = []
        statuses: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.server.requests.append((self.headers, body))
            self.send_response(self.server.statuses.pop(0) if self.server.statuses else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = Receiver(("127.0.0.1", 0), Handler)
    server.requests, server.statuses = [], []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/credit-dw"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def module_database():
    """Create empty databases that live for one test module: ``module_database("a")`` -> URL."""
    created: list[str] = []

    def create(label: str) -> str:
        name = f"{SESSION_DATABASE}_{label}_{uuid.uuid4().hex[:6]}"
        with _admin() as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        created.append(name)
        return _url_for(name)

    yield create
    with _admin() as conn:
        for name in created:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


# The longest modules (a few minutes each: whole nightly runs, dbt builds) start first, so that the
# two pytest-xdist workers of `make test` (--dist loadfile --no-loadscope-reorder) finish together
# instead of one starting a long module when the other is done.
LONGEST_MODULES_FIRST = (
    "test_nightly_operations.py", "test_faults.py", "test_marts.py", "test_mdm.py",
    "test_nightly_end_to_end.py", "test_model.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_MODULES_FIRST.index(name) if name in LONGEST_MODULES_FIRST else len(LONGEST_MODULES_FIRST)

    items.sort(key=rank)  # stable: file order, and test order within a file, are kept
