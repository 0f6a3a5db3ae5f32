"""Request and response bodies: the OpenAPI spec is generated from these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
AlertStatus = Literal["open", "acknowledged", "resolved"]


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


class Publication(BaseModel):
    business_date: date | None = Field(description="Business date of the last published run (ops.publications).")
    run_id: str | None
    published_at: datetime | None


class AccountExposure(BaseModel):
    """One row of marts.fct_credit_exposure_daily: an ERP customer account (or the master id once the
    mart is keyed by it)."""

    key: str
    customer_name: str | None
    currency: str | None
    exposure: float | None
    credit_limit: float | None
    utilisation: float | None
    headroom: float | None
    is_over_limit: bool | None
    open_receivables: float | None
    overdue_amount: float | None
    open_orders: float | None
    unapplied_cash: float | None


class BlacklistHit(BaseModel):
    rule_id: str
    rule_version: int
    description: str | None = Field(description="The rule's description in the bundled credit policy.")
    customer_key: str


class Blacklist(BaseModel):
    status: Literal["clear", "blacklisted", "unknown"] = Field(
        description="blacklisted: a blacklist rule of the active policy hit the customer on evaluated_on; "
                    "unknown: the blacklist has not been evaluated yet.")
    evaluated_on: date | None
    hits: list[BlacklistHit]


class AlertOut(BaseModel):
    alert_id: int
    customer_id: str = Field(description="The key the alert was raised on (ERP number or master id).")
    master_customer_id: str | None = Field(description="The customer master's id for that key, when known.")
    customer_name: str | None
    rule_id: str
    rule_version: int
    severity: Severity
    status: AlertStatus
    raised_on: date
    last_seen_on: date
    evidence: dict[str, Any]
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


class LimitProposal(BaseModel):
    as_of_date: date
    customer_key: str
    currency: str | None
    current_limit: float | None
    proposed_limit: float
    change: float | None
    reason: str


class CreditStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "What an order-entry check needs, in one call."})

    customer_id: str = Field(description="The customer master's id, or the key asked for when the master does not "
                                         "know it yet.")
    requested_id: str
    customer_name: str | None
    erp_customer_ids: list[str]
    as_of_date: date | None = Field(description="Business date the figures are as of.")
    currency: str | None = Field(description="Currency of the amounts (null when the accounts' currencies differ).")
    exposure: float | None
    credit_limit: float | None
    utilisation: float | None = Field(description="exposure ÷ credit_limit; null when the limit is zero or unknown.")
    headroom: float | None = Field(description="credit_limit − exposure; negative when over the limit.")
    is_over_limit: bool | None
    open_receivables: float | None
    overdue_amount: float | None
    grade: int | None = Field(description="Rating grade on the master scale (1 best … 10 worst); the worst of the "
                                          "customer's keys; null when not scored.")
    graded_on: date | None
    blacklist: Blacklist
    open_alerts: list[AlertOut] = Field(description="Alerts not resolved (open or acknowledged), most severe first.")
    limit_proposal: LimitProposal | None
    accounts: list[AccountExposure] = Field(description="The exposure rows behind the figures (several when the "
                                                        "customer has several ERP accounts).")
    publication: Publication


class CustomerOut(BaseModel):
    customer_id: str
    customer_name: str | None
    uscc: str | None
    country_code: str | None
    city: str | None
    registration_status: str | None
    erp_customer_ids: list[str]
    is_erp_customer: bool | None


class CustomerList(BaseModel):
    customers: list[CustomerOut]
    as_of: Publication


class AlertList(BaseModel):
    alerts: list[AlertOut]


class AlertMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                           description="Who, in the calling system (default: the API client's name).")
    note: str | None = Field(None, max_length=2000, pattern=r"^[^\x00]*$")


class CurrencyTotals(BaseModel):
    currency: str | None
    customers: int
    exposure: float
    credit_limit: float
    utilisation: float | None
    headroom: float
    open_receivables: float
    overdue_amount: float
    customers_over_limit: int


class PortfolioSummary(BaseModel):
    publication: Publication
    as_of_date: date | None
    customers: int
    customers_over_limit: int
    by_currency: list[CurrencyTotals]
    open_alerts: dict[str, int] = Field(description="Alerts not resolved, by severity.")
    blacklisted_customers: int | None = Field(description="Keys a blacklist rule hit on the latest evaluation.")
    blacklist_evaluated_on: date | None


class Health(BaseModel):
    status: Literal["ok"]
    publication: Publication
