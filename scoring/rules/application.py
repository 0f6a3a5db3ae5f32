"""Onboarding: one credit application, decided with the same policy as existing customers.

Order: blacklist rules (the same ones the nightly run applies to customers) → the application
scorecard (points, PD, grade on the project's master scale) → decline rules → refer rules →
the initial limit formula. Conditions run in the warehouse over a one-row relation of the
application's fields, rendered from the checked expressions with every value bound as a parameter.

The PD comes from the policy's transparent points table (``application.scorecard``): the PD model in
``scoring/model`` scores customers with payment history and has no application model.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scoring.limits import apply_formula, blacklist_reason, formula_query
from scoring.rules.expressions import ParamSink
from scoring.rules.policy import Rule, RuleSet
from scoring.rules.targets import APPLICATION_COLUMNS

APPLICATIONS_DDL = """
create schema if not exists scoring;
create table if not exists scoring.application_decisions (
    decision_id bigserial primary key,
    applicant text,
    as_of_date date not null,
    decision text not null check (decision in ('approve', 'decline', 'refer')),
    pd numeric(9, 6),
    grade integer,
    points numeric(10, 2),
    initial_limit numeric(18, 2) not null,
    rule_set text not null,
    rule_set_version text not null,
    content_hash text not null,
    rules_hit jsonb not null,
    application jsonb not null,
    decided_at timestamptz not null default now()
);
"""

_REGISTRATION = {"存续": "active", "在业": "active", "注销": "deregistered", "吊销": "revoked",
                 "active": "active", "deregistered": "deregistered", "revoked": "revoked", "other": "other"}


class ApplicationError(ValueError):
    """A malformed application; the message names the field."""


class Litigation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Annotated[int, Field(ge=0)] = 0
    amount: Annotated[Decimal, Field(ge=0)] = Decimal(0)


class Lists(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dishonest_debtor: bool = False
    business_anomaly: bool = False
    fraud: bool = False


class ApplicationInput(BaseModel):
    """The application JSON. Either ``established_date`` or ``company_age_years``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    applicant: str | None = None
    uscc: str | None = None
    established_date: date | None = None
    company_age_years: Annotated[float, Field(ge=0, le=500)] | None = None
    registered_capital: Annotated[Decimal, Field(ge=0)] | None = None
    industry: str | None = None
    registration_status: str = "active"
    litigation: Litigation = Litigation()
    lists: Lists = Lists()
    bureau_score: Annotated[float, Field(ge=0, le=1000)] | None = None
    requested_limit: Annotated[Decimal, Field(gt=0)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"

    @field_validator("registration_status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in _REGISTRATION:
            raise ValueError(f"must be one of {', '.join(_REGISTRATION)}")
        return _REGISTRATION[value]

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from stdnum.cn import uscc

        try:
            return uscc.validate(value)
        except Exception as error:
            raise ValueError(f"not a valid Unified Social Credit Code ({error})") from None


def read_application(payload: Any) -> ApplicationInput:
    """Validate a parsed JSON payload; the error names the first bad field."""
    if not isinstance(payload, dict):
        raise ApplicationError("the application must be a JSON object")
    try:
        return ApplicationInput.model_validate(payload)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "application"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{where}: {message}")
        raise ApplicationError("; ".join(problems)) from None


def application_fields(application: ApplicationInput, as_of_date: date) -> dict[str, Any]:
    age = application.company_age_years
    if age is None and application.established_date is not None:
        age = round((as_of_date - application.established_date).days / 365.25, 2)
    return {
        "company_age_years": age,
        "registered_capital": application.registered_capital,
        "industry": application.industry,
        "litigation_count": application.litigation.count,
        "litigation_amount": application.litigation.amount,
        "is_dishonest_debtor": application.lists.dishonest_debtor,
        "is_business_anomaly": application.lists.business_anomaly,
        "registration_status_code": application.registration_status,
        "has_fraud_flag": application.lists.fraud,
        "bureau_score": application.bureau_score,
        "requested_limit": application.requested_limit,
        "points": None, "pd": None, "grade": None,
    }


def _relation(fields: dict[str, Any], params: ParamSink) -> str:
    """A one-row relation of the application: every value a bound parameter, cast to its type."""
    casts = {"numeric": "numeric", "integer": "integer", "text": "text", "boolean": "boolean"}
    parts = []
    for name, (kind, _) in APPLICATION_COLUMNS.items():
        value = fields.get(name)
        parts.append(f"%({params.add(value)})s::{casts[kind]} as {name}")
    return f"(select {', '.join(parts)}) as application"


def _hits(conn, rules: tuple[Rule, ...], fields: dict[str, Any]) -> list[Rule]:
    if not rules:
        return []
    params = ParamSink()
    conditions = ", ".join(f"coalesce({rule.condition.render('application', params)}, false)" for rule in rules)
    relation = _relation(fields, params)
    row = conn.execute(f"select {conditions} from {relation}", params.values).fetchone()
    return [rule for rule, hit in zip(rules, row, strict=True) if hit]


def decide(conn, rule_set: RuleSet, application: ApplicationInput, *, as_of_date: date,
           record: bool = True) -> dict[str, Any]:
    policy = rule_set.application
    if policy is None:
        raise ApplicationError(f"the policy {rule_set.label} has no application section")
    fields = application_fields(application, as_of_date)
    blacklist = [rule for rule in rule_set.blacklist if "application" in rule.targets]
    blacklisted = _hits(conn, tuple(blacklist), fields)
    points, pd, contributions = policy.scorecard.score(fields)
    grade = _grade_of(pd)
    fields.update(points=points, pd=pd, grade=grade)
    reasons: list[str] = []
    declined = refer = []
    if blacklisted:
        decision = "decline"
        reasons.append(blacklist_reason([(rule, {}) for rule in blacklisted]))
    else:
        declined = _hits(conn, policy.decline, fields)
        refer = _hits(conn, policy.refer, fields) if not declined else []
        decision = "decline" if declined else "refer" if refer else "approve"
        reasons.extend(
            f"{'declined' if r in declined else 'refer'}: {r.id} v{r.version} ({r.description or r.condition.text})"
            for r in (*declined, *refer)
        )
    if decision == "decline":
        limit, limit_reason = 0.0, "declined: no limit"
    else:
        params = ParamSink()
        select, names = formula_query(policy.initial_limit, params, "application")
        relation = _relation(fields, params)
        base, *factor_values = conn.execute(f"select {select} from {relation}", params.values).fetchone()
        proposal = apply_formula(policy.initial_limit, base, dict(zip(names, factor_values, strict=True)), None,
                                 ceiling=float(application.requested_limit))
        limit, limit_reason = proposal.proposed, proposal.reason
    weakest = sorted(contributions, key=lambda c: c["points"])[:3]
    result = {
        "decision": decision,
        "applicant": application.applicant,
        "as_of_date": as_of_date.isoformat(),
        "pd": pd, "grade": grade, "points": points,
        "pd_source": f"policy scorecard {policy.scorecard.id} v{policy.scorecard.version} (points table)",
        "initial_limit": limit, "requested_limit": float(application.requested_limit),
        "currency": application.currency,
        "reasons": reasons or ["no policy rule hit"],
        "limit_reason": limit_reason,
        "score_reasons": [f"{c['characteristic']} = {c['value']} ({c['band']}): {c['points']:+g} points"
                          for c in weakest if c["points"] < 0],
        "scorecard": contributions,
        "rules_hit": [{"rule_id": r.id, "rule_version": r.version, "kind": r.kind}
                      for r in (*blacklisted, *declined, *refer)],
        "rule_set": {"name": rule_set.name, "version": rule_set.version, "content_hash": rule_set.content_hash},
    }
    if record:
        conn.execute(APPLICATIONS_DDL)
        conn.execute(
            """insert into scoring.application_decisions
                   (applicant, as_of_date, decision, pd, grade, points, initial_limit, rule_set, rule_set_version,
                    content_hash, rules_hit, application)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (application.applicant, as_of_date, decision, pd, grade, points, limit, rule_set.name, rule_set.version,
             rule_set.content_hash, json.dumps(result["rules_hit"]), application.model_dump_json()),
        )
    return result


def _grade_of(pd: float) -> int:
    """The grade of ``pd`` on the project's master scale (the dbt seed read by scoring.model)."""
    from scoring.model.master_scale import master_scale

    return int(master_scale().grade_of([pd])[0])
