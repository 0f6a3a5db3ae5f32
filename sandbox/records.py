"""The documents the simulated company's systems keep: orders, invoices, bank transfers and
statements. Money is integer cents, days are ``date.toordinal()`` integers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sandbox.population import Customer
from sandbox.reference import CompanyAccount


@dataclass(slots=True)
class Order:
    order_id: str
    customer: Customer
    day: int
    amount: int


@dataclass(slots=True)
class Invoice:
    invoice_id: str
    customer: Customer
    order_id: str
    day: int
    due: int
    amount: int
    open: int
    # ERP rows booked against it before the first written business date; an initial load
    # delivers them with the invoice so the warehouse starts from the right open amount.
    history: list[tuple[str, tuple]] | None = None


@dataclass(slots=True)
class Transfer:
    """A customer's payment as it travels: received by the bank, booked by the ERP later."""

    customer: Customer
    bank_reference: str
    received: int
    parts: list[tuple[Invoice, int]]  # what the payer meant to settle
    overpaid: int  # paid beyond the invoices: the ERP keeps it unapplied

    @property
    def amount(self) -> int:
        return sum(amount for _, amount in self.parts) + self.overpaid


@dataclass(slots=True)
class BankEntry:
    reference: str  # the bank's entry reference (AcctSvcrRef, :61: bank reference, 交易流水号)
    is_credit: bool
    amount: int
    counterparty: str
    counterparty_account: str | None
    remittance: str
    end_to_end_id: str
    kind: str  # customer_payment, bank_fee, supplier_payment
    customer: Customer | None = None  # the payer, for customer payments
    invoice_ids: tuple[str, ...] = ()  # what the payer meant to settle


@dataclass(slots=True)
class Statement:
    account: CompanyAccount
    day: int
    number: int  # statement number within the year
    opening: int
    entries: list[BankEntry] = field(default_factory=list)

    @property
    def closing(self) -> int:
        return self.opening + sum(e.amount if e.is_credit else -e.amount for e in self.entries)

    @property
    def statement_id(self) -> str:
        return f"{self.account.account_id}-{date.fromordinal(self.day):%Y%m%d}"
