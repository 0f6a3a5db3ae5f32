"""``credit-dw onboard --json FILE``: decide one credit application with the policy in force."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from credit_dw import warehouse

app = typer.Typer(help="Decide a new customer's credit application (approve, decline or refer).")


def _fail(message: str) -> None:
    print(json.dumps({"error": message}, ensure_ascii=False))
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


@app.callback(invoke_without_command=True)
def onboard(
    application_file: Annotated[Path, typer.Option("--json", help="The application as a JSON file ('-': stdin).")],
    policy: Annotated[Path | None, typer.Option(help="Decide with this policy file instead of the active one.")] = None,
    day: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                 help="Decision date (company age); default today.")] = None,
    record: Annotated[bool, typer.Option(help="Record the decision in scoring.application_decisions.")] = True,
) -> None:
    """Blacklist first, then the application scorecard, decline and refer rules, and the initial limit.
    Prints one JSON object; exit 2 on a malformed application (the message names the field)."""
    from zoneinfo import ZoneInfo

    from credit_dw.settings import get_settings
    from scoring.rules import registry
    from scoring.rules.application import ApplicationError, decide, read_application
    from scoring.rules.policy import DEFAULT_POLICY, PolicyError, load_policy

    try:
        text = sys.stdin.read() if str(application_file) == "-" else application_file.read_text(encoding="utf-8")
    except OSError as error:
        _fail(f"cannot read {application_file}: {error.strerror or error}")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        _fail(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
    try:
        application = read_application(payload)
    except ApplicationError as error:
        _fail(str(error))
    as_of = day.date() if day else datetime.now(ZoneInfo(get_settings().timezone)).date()
    with warehouse.connect() as conn:
        try:
            rule_set = load_policy(policy) if policy else (
                registry.in_force(conn, load_policy(DEFAULT_POLICY).name) or load_policy(DEFAULT_POLICY))
            result = decide(conn, rule_set, application, as_of_date=as_of, record=record)
        except (PolicyError, ApplicationError) as error:
            _fail(str(error))
    print(json.dumps(result, ensure_ascii=False, default=_default))


def _default(value):
    return value.isoformat() if isinstance(value, date) else str(value)
