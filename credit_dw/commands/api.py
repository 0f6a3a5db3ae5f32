"""``credit-dw api``: serve the HTTP API; manage its tokens and webhook endpoints.

    credit-dw api --host 0.0.0.0 --port 8000                 # serve (no subcommand)
    credit-dw api token create --name erp-order-entry --scopes read-status
    credit-dw api webhook add https://hooks.example.com/credit
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credit_dw import warehouse

app = typer.Typer(help="The HTTP API: `credit-dw api --host H --port P` serves it; tokens and webhooks below.")
token_app = typer.Typer(help="API tokens, one or more per client, with scopes (read-status, manage-alerts).",
                        no_args_is_help=True)
webhook_app = typer.Typer(help="Endpoints that receive new critical alerts after the nightly run.",
                          no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(webhook_app, name="webhook")
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)  # paths stay whole
    raise typer.Exit(2)


@app.callback(invoke_without_command=True)
def serve(
    context: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (each keeps its own copy of the publication).")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="Uvicorn's access log on stdout (api.request_log has every "
                                                  "call either way).")] = True,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve the API (OpenAPI spec at /openapi.json, docs at /docs) as the least-privileged `api` role."""
    if context.invoked_subcommand is not None:
        return
    import uvicorn

    from api.db import prepare, role_problem
    from credit_dw.settings import get_settings

    url = warehouse.database_url()
    skipped = prepare(url)
    if skipped:
        err.print(f"[yellow]{skipped}[/yellow] (fine when this login is only a member of the api role)")
    problem = role_problem(url)
    if problem:
        _fail(problem)
    # the server's processes (one per worker) find the warehouse through the environment
    os.environ["CREDIT_DW_DATABASE_URL"] = url
    get_settings.cache_clear()
    err.print(f"credit-dw API on http://{host}:{port} (docs: /docs, spec: /openapi.json)")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=access_log,
                log_level=log_level)


# ------------------------------------------------------------------------------------------------ tokens


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="The client (system) the token is for, e.g. erp-order-entry.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read-status, manage-alerts.")] = "read-status",
    expires_in_days: Annotated[int | None, typer.Option(help="Expire after this many days (default: never).")] = None,
) -> None:
    """Create a token and print it, once, on stdout (the warehouse keeps only a keyed hash)."""
    from api.tokens import TokenError, create_token

    with warehouse.connect() as conn:
        try:
            token, row = create_token(conn, name, scopes, expires_in_days=expires_in_days)
        except TokenError as error:
            _fail(str(error))
    print(token)
    expiry = f", expires {row['expires_at']:%Y-%m-%d %H:%M}" if row["expires_at"] else ""
    err.print(f"token {row['token_id']} for {row['name']} ({', '.join(row['scopes'])}{expiry}); "
              "store it now, it is not shown again", highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every token: client, prefix, scopes, state, last use."""
    from api.tokens import list_tokens

    with warehouse.connect() as conn:
        rows = list_tokens(conn)
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=f"API tokens ({len(rows)})")
    for column in ("id", "client", "token", "scopes", "created", "expires", "revoked", "last used"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["token_id"]), row["name"], f"cdw_{row['token_prefix']}…", ", ".join(row["scopes"]),
                      _when(row["created_at"]), _when(row["expires_at"]), _when(row["revoked_at"]),
                      _when(row["last_used_at"]))
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="Token id (credit-dw api token list).")]) -> None:
    """Revoke a token: the API refuses it from the next request on."""
    from api.tokens import TokenError, revoke_token

    with warehouse.connect() as conn:
        try:
            row = revoke_token(conn, token_id)
        except TokenError as error:
            _fail(str(error))
    console.print(f"token {row['token_id']} ({row['name']}) revoked")


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


# ------------------------------------------------------------------------------------------------ webhooks


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives the POSTs.")],
    secret: Annotated[str | None, typer.Option(help="Signing secret (default: a new random one, printed).")] = None,
) -> None:
    """Add an endpoint; new critical alerts are POSTed to it after each nightly run, signed with its secret."""
    from api.webhooks import WebhookError, add_endpoint

    with warehouse.connect() as conn:
        try:
            endpoint, used_secret = add_endpoint(conn, url, secret)
        except WebhookError as error:
            _fail(str(error))
    console.print(f"webhook {endpoint['endpoint_id']}: {endpoint['url']}", highlight=False)
    if secret is None:
        console.print(f"signing secret (shown once; verify X-Credit-DW-Signature with it): {used_secret}",
                      highlight=False, soft_wrap=True)


@webhook_app.command("list")
def webhook_list(
    removed: Annotated[bool, typer.Option("--removed", help="Include removed endpoints.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Endpoints and what was delivered to them."""
    from api.webhooks import list_endpoints

    with warehouse.connect() as conn:
        rows = list_endpoints(conn, include_removed=removed)
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=f"webhook endpoints ({len(rows)})")
    for column in ("id", "url", "active", "added", "by", "alerts delivered", "dead-lettered", "last delivery"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["endpoint_id"]), row["url"], "yes" if row["active"] else "removed",
                      _when(row["created_at"]), row["created_by"], str(row["alerts_delivered"]),
                      str(row["alerts_dead_lettered"]), _when(row["last_delivery_at"]))
    console.print(table)


@webhook_app.command("remove")
def webhook_remove(reference: Annotated[str, typer.Argument(help="Endpoint id or URL.")]) -> None:
    """Stop sending to an endpoint (its delivery history stays)."""
    from api.webhooks import WebhookError, remove_endpoint

    with warehouse.connect() as conn:
        try:
            row = remove_endpoint(conn, reference)
        except WebhookError as error:
            _fail(str(error))
    console.print(f"webhook {row['endpoint_id']} removed: {row['url']}", highlight=False)


@webhook_app.command("deliver")
def webhook_deliver(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date of the run.")],
) -> None:
    """Send the new critical alerts now (the nightly run does this after scoring); prints JSON."""
    from api.webhooks import deliver_new_alerts

    summary = deliver_new_alerts(day.date())
    print(json.dumps(summary, default=str, ensure_ascii=False))
    if summary["alerts_dead_lettered"]:
        raise typer.Exit(1)


@webhook_app.command("dead-letters")
def webhook_dead_letters(
    replayed: Annotated[bool, typer.Option("--replayed", help="Include dead letters delivered on replay.")] = False,
) -> None:
    """Deliveries that failed after every retry."""
    from api.webhooks import dead_letters

    with warehouse.connect() as conn:
        rows = dead_letters(conn, include_replayed=replayed)
    table = Table(title=f"webhook dead letters ({len(rows)})")
    for column in ("id", "url", "alerts", "attempts", "last status", "last error", "failed", "replayed"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["dead_letter_id"]), row["url"], str(row["alerts"]), str(row["attempts"]),
                      str(row["last_status"] or ""), row["last_error"] or "", _when(row["failed_at"]),
                      _when(row["replayed_at"]))
    console.print(table)


@webhook_app.command("replay")
def webhook_replay(dead_letter_id: Annotated[int, typer.Argument(help="Dead letter id.")]) -> None:
    """Send a dead letter again (same body and delivery id, with retries)."""
    from api.webhooks import WebhookError, replay

    try:
        outcome = replay(dead_letter_id)
    except WebhookError as error:
        _fail(str(error))
    if not outcome.delivered:
        err.print(f"[red]still failing after {outcome.attempts} attempts: {outcome.error}[/red]")
        raise typer.Exit(1)
    console.print(f"dead letter {dead_letter_id} delivered (attempts: {outcome.attempts})")
