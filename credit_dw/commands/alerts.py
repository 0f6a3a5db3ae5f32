"""``credit-dw alerts``: list, acknowledge and resolve early-warning alerts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credit_dw import audit, warehouse

app = typer.Typer(help="Early-warning alerts: list, acknowledge, resolve.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
    customer: Annotated[str | None, typer.Option(help="One customer id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Alerts, most severe and newest first."""
    from scoring.alerts import AlertError, latest_suppression, list_alerts

    with warehouse.connect() as conn:
        try:
            rows = list_alerts(conn, status=status, severity=severity, customer_id=customer, limit=limit)
        except AlertError as error:
            err.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from None
        last_day, suppressed = latest_suppression(conn)
    if as_json:
        print(json.dumps({"alerts": rows, "last_evaluated": last_day, "suppressed_rules": suppressed}, default=str,
                         ensure_ascii=False))
        return
    if suppressed:
        console.print(f"[yellow]{last_day}: {len(suppressed)} rule(s) suppressed, sources staler than their SLA:"
                      "[/yellow]")
        for rule_id, detail in suppressed.items():
            console.print(f"  {rule_id}: {detail}")
    table = Table(title=f"alerts ({len(rows)})")
    for name in ("id", "customer", "rule", "severity", "status", "raised", "last seen", "evidence", "who"):
        table.add_column(name)
    for row in rows:
        evidence = ", ".join(f"{k}={v}" for k, v in row["evidence"].items() if k not in ("rule", "as_of_date"))
        who = row["resolved_by"] or row["acknowledged_by"] or ""
        table.add_row(str(row["alert_id"]), row["customer_id"], f"{row['rule_id']} v{row['rule_version']}",
                      row["severity"], row["status"], str(row["raised_on"]), str(row["last_seen_on"]), evidence, who)
    console.print(table)


def _move(action, alert_id: int, by: str, note: str | None) -> None:
    from scoring.alerts import AlertError
    from scoring.timeline import refresh_alert_events

    with warehouse.connect() as conn:
        try:
            row = action(conn, alert_id, by=by, note=note)
        except AlertError as error:
            err.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from None
        # an acknowledgement or resolution is an audited act, as through the API (api_alert_*)
        audit.record(conn, f"cli_alert_{'ack' if row['status'] == 'acknowledged' else 'resolve'}",
                     f"scoring.alerts/{alert_id}", {"by": by, "note": note, "status": row["status"]})
        refresh_alert_events(conn)
    console.print(f"alert {row['alert_id']} ({row['customer_id']}, {row['rule_id']}): {row['status']} by {by}")


@app.command("ack")
def ack(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: Annotated[str, typer.Option(help="Who acknowledges.")],
    note: Annotated[str | None, typer.Option(help="A note.")] = None,
) -> None:
    """open -> acknowledged."""
    from scoring.alerts import acknowledge

    _move(acknowledge, alert_id, by, note)


@app.command("resolve")
def resolve(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: Annotated[str, typer.Option(help="Who resolves.")],
    note: Annotated[str | None, typer.Option(help="How it was resolved.")] = None,
) -> None:
    """open or acknowledged -> resolved. While the condition still holds the alert is not raised again;
    once it has cleared and comes back, a new alert is."""
    from scoring.alerts import resolve as resolve_alert

    _move(resolve_alert, alert_id, by, note)
