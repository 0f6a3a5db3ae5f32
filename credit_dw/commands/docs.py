"""``credit-dw docs``: dbt's documentation site for analysts (lineage, model and column definitions),
built from the warehouse's catalog and served on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Analysts' documentation of the marts: dbt docs (lineage, column definitions).")
console = Console()
err = Console(stderr=True)


class DocsFailed(Exception):
    """dbt could not generate the documentation; the message says why."""


def docs_dir() -> Path:
    from credit_dw.settings import get_settings

    return get_settings().home / "dbt" / "docs"


def generate(database_url: str | None = None, target: Path | None = None) -> Path:
    """``dbt docs generate`` (manifest, warehouse catalog, index.html and a single-file static_index.html)
    into ``target`` (default ``<CREDIT_DW_HOME>/dbt/docs``); returns that directory."""
    from dbt.cli.main import dbtRunner  # slow to import: only when docs are built

    from credit_dw import warehouse
    from credit_dw.dbt import DBT_PROJECT_DIR, profile_env

    url = database_url or warehouse.database_url()
    os.environ.update(profile_env(url))
    target = target or docs_dir()
    args = [
        "docs", "generate",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(target.parent / "logs"),
        "--static",  # static_index.html embeds manifest and catalog: opens from file://, no server needed
        "--no-use-colors",
        "--quiet",
    ]
    published = _latest_publication(url)
    if published:  # compiled SQL in the docs shows the date the marts were last built for
        args += ["--vars", json.dumps({"as_of_date": published})]
    outcome = dbtRunner().invoke(args)
    if outcome.exception is not None or not outcome.success:
        raise DocsFailed(f"dbt docs generate failed: {outcome.exception or 'see ' + str(target.parent / 'logs')}")
    if not (target / "index.html").exists():
        raise DocsFailed(f"dbt wrote no index.html into {target}")
    return target


def _latest_publication(url: str) -> str | None:
    from credit_dw import warehouse

    with warehouse.connect(url) as conn:
        if not conn.execute("select to_regclass('ops.publications') is not null").fetchone()[0]:
            return None
        day = conn.execute("select max(business_date) from ops.publications").fetchone()[0]
    return day.isoformat() if day else None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        pass


def serve(directory: Path, port: int) -> None:
    """Serve ``directory`` on http://127.0.0.1:<port>/ until interrupted (loopback only: the docs show the
    warehouse's schema, not for the network)."""
    handler = partial(_QuietHandler, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        console.print(f"serving the docs on http://127.0.0.1:{port}/ (Ctrl-C to stop)", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


@app.callback(invoke_without_command=True)
def docs(
    serve_docs: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the docs after building them.")] = True,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.", min=1, max=65535)] = 8081,
) -> None:
    """Build dbt docs from the warehouse (lineage, column definitions) and serve them on 127.0.0.1."""
    with console.status("dbt docs generate"):
        try:
            target = generate()
        except DocsFailed as error:
            err.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
    console.print(f"docs built in {target}", highlight=False)
    console.print(f"single file, opens offline: {target / 'static_index.html'}", highlight=False)
    if serve_docs:
        try:
            serve(target, port)
        except OSError as error:
            err.print(f"[red]cannot serve on 127.0.0.1:{port}: {error}[/red]")
            raise typer.Exit(1) from None
