"""``credit-dw rules``: validate, simulate, activate and compare policy rule sets."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credit_dw import warehouse

app = typer.Typer(help="Policy rules: validate, simulate on history, activate (or shadow), compare.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)

PolicyFile = Annotated[Path, typer.Argument(help="A policy YAML file (see scoring/policies/).", dir_okay=False)]
Day = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"])]


def _load(path: Path):
    from scoring.rules.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as error:
        err.print(f"[red]invalid policy[/red] {error}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def _resolve(conn, reference: str):
    """A rule set by file path, or from the registry: 'active', 'shadow', or a content-hash prefix."""
    from scoring.rules import registry
    from scoring.rules.policy import DEFAULT_POLICY, load_policy

    if Path(reference).exists():
        return _load(Path(reference))
    name = load_policy(DEFAULT_POLICY).name
    if reference in ("active", "shadow"):
        found = registry.in_force(conn, name, mode=reference)
    else:
        found = registry.stored_version(conn, name, reference)
    if found is None:
        err.print(f"[red]no rule set {reference!r}[/red]: not a file, and the registry has no such {name} version")
        raise typer.Exit(2)
    return found


@app.command("validate")
def validate(file: PolicyFile, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Parse and check every rule of FILE; exit 2 naming each invalid rule."""
    from scoring.rules.targets import undocumented_columns

    rule_set = _load(file)
    findings = undocumented_columns()
    rules = [{"rule_id": r.id, "version": r.version, "kind": r.kind, "targets": list(r.targets),
              "columns": list(r.columns)} for r in (*rule_set.customer_rules,
                                                   *(rule_set.application.decline if rule_set.application else ()),
                                                   *(rule_set.application.refer if rule_set.application else ()))]
    if as_json:
        print(json.dumps({"valid": True, "rule_set": rule_set.name, "version": rule_set.version,
                          "content_hash": rule_set.content_hash, "rules": rules, "column_findings": findings}))
        return
    console.print(f"[green]valid[/green]: {rule_set.label}, {len(rules)} rules")
    for rule in rules:
        console.print(f"  {rule['kind']:<9} {rule['rule_id']} v{rule['version']}: {', '.join(rule['columns'])}")
    for finding in findings:
        console.print(f"  [yellow]allow-list note[/yellow]: {finding}")


@app.command("columns")
def columns() -> None:
    """The columns rule conditions may use, per target."""
    from scoring.rules.targets import APPLICATION_COLUMNS, COMPONENTS, CUSTOMER_COLUMNS

    table = Table(title="target customer (one row per customer and business date)")
    for name in ("column", "type", "from", "meaning"):
        table.add_column(name)
    for column in CUSTOMER_COLUMNS:
        component = COMPONENTS[column.component]
        table.add_row(column.name, column.type, f"{component.schema}.{component.table}.{column.source}",
                      column.description)
    console.print(table)
    table = Table(title="target application (credit-dw onboard)")
    for name in ("column", "type", "meaning"):
        table.add_column(name)
    for name, (kind, description) in APPLICATION_COLUMNS.items():
        table.add_row(name, kind, description)
    console.print(table)


@app.command("simulate")
def simulate(
    file: PolicyFile,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First business date.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last business date.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How many customers each rule of FILE would have hit on each business date, on history."""
    from scoring.rules.engine import simulate as run

    rule_set = _load(file)
    if end < start:
        err.print(f"[red]--to {end:%Y-%m-%d} is before --from {start:%Y-%m-%d}[/red]")
        raise typer.Exit(2)
    with warehouse.connect() as conn:
        report = run(conn, rule_set, start.date(), end.date())
        conn.rollback()  # a simulation leaves nothing behind
    if as_json:
        print(json.dumps(report))
        return
    evaluated = [r for r in report["rules"] if r["status"] == "evaluated"]
    table = Table(title=f"simulation of {rule_set.label}, {report['from']}..{report['to']} (customers hit)")
    table.add_column("business date")
    table.add_column("customers", justify="right")
    for rule in evaluated:
        table.add_column(rule["rule_id"], justify="right")
    for day in report["days"]:
        table.add_row(day, str(report["customers_per_day"][day]), *(str(r["hits_per_day"][day]) for r in evaluated))
    table.add_row("distinct", "", *(str(r["distinct_customers"]) for r in evaluated), style="bold")
    console.print(table if report["days"] else f"no business dates in the marts between {report['from']} and "
                  f"{report['to']}")
    for rule in report["rules"]:
        if rule["status"] != "evaluated":
            console.print(f"[yellow]{rule['rule_id']} not simulated[/yellow]: {rule['detail']}")


@app.command("activate")
def activate(
    file: PolicyFile,
    by: Annotated[str, typer.Option(help="Who activates (recorded).")] = getpass.getuser(),
    shadow: Annotated[bool, typer.Option("--shadow", help="Run beside the active set, not acted on.")] = False,
) -> None:
    """Put FILE in force (or in shadow); a different content hash is recorded in scoring.policy_audit."""
    from scoring.rules import registry
    from scoring.rules.policy import PolicyError

    rule_set = _load(file)
    with warehouse.connect() as conn:
        try:
            result = registry.activate(conn, rule_set, by=by, mode="shadow" if shadow else "active")
        except (PolicyError, ValueError) as error:
            err.print(f"[red]not activated[/red]: {error}", highlight=False)
            raise typer.Exit(2) from None
    if not result.changed:
        console.print(f"{rule_set.label} is already {result.mode}; nothing recorded")
        return
    changes = ", ".join(f"{kind}: {', '.join(items)}" for kind, items in result.changes.items() if items)
    console.print(f"[green]{result.mode}[/green]: {rule_set.label} by {by}"
                  + (f" (was {result.previous_hash[:12]})" if result.previous_hash else "")
                  + (f"; {changes}" if changes else ""))


@app.command("stop-shadow")
def stop_shadow(
    by: Annotated[str, typer.Option(help="Who stops it (recorded).")] = getpass.getuser(),
) -> None:
    """Stop running the shadow rule set."""
    from scoring.rules import registry
    from scoring.rules.policy import DEFAULT_POLICY, load_policy

    with warehouse.connect() as conn:
        stopped = registry.retire_shadow(conn, load_policy(DEFAULT_POLICY).name, by=by)
    console.print("shadow rule set stopped" if stopped else "no shadow rule set was running")


@app.command("history")
def history() -> None:
    """Every activation, newest first."""
    from scoring.rules import registry

    with warehouse.connect() as conn:
        rows = registry.rule_sets(conn)
    table = Table(title="policy versions")
    for name in ("rule set", "mode", "version", "content hash", "activated", "by", "retired"):
        table.add_column(name)
    for row in rows:
        table.add_row(row["rule_set"], row["mode"], row["version"], row["content_hash"][:12],
                      f"{row['activated_at']:%Y-%m-%d %H:%M}", row["activated_by"],
                      f"{row['retired_at']:%Y-%m-%d %H:%M}" if row["retired_at"] else "in force")
    console.print(table)


@app.command("compare")
def compare(
    active: Annotated[str, typer.Argument(help="A policy file, or 'active', or a content-hash prefix.")],
    shadow: Annotated[str, typer.Argument(help="A policy file, or 'shadow', or a content-hash prefix.")],
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which customers each rule hits under ACTIVE and under SHADOW on one business date."""
    from scoring.rules.engine import compare as run

    with warehouse.connect() as conn:
        first, second = _resolve(conn, active), _resolve(conn, shadow)
        report = run(conn, first, second, day.date())
        conn.rollback()
    if as_json:
        print(json.dumps(report))
        return
    table = Table(title=f"{day:%Y-%m-%d}: {first.label} vs {second.label}")
    for name in ("rule", "versions", "active", "shadow", "both", "only active", "only shadow"):
        left = name in ("rule", "versions", "only active", "only shadow")
        table.add_column(name, justify="left" if left else "right")
    for row in report["rules"]:
        versions = f"v{row['active_version'] or '-'} / v{row['shadow_version'] or '-'}"
        table.add_row(row["rule_id"], versions,
                      str(row["active_hits"]) if row["active_status"] == "evaluated" else row["active_status"],
                      str(row["shadow_hits"]) if row["shadow_status"] == "evaluated" else row["shadow_status"],
                      str(row["both"]), _few(row["only_active"]), _few(row["only_shadow"]))
    console.print(table)


def _few(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit})" if len(items) > limit else "")
