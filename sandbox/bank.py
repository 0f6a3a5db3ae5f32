"""The company's bank accounts: what lands on them (customer payments, with whatever name and
remittance text the payer's bank passes on) and what leaves (fees, suppliers), balances and the
daily statements the banks send."""

from __future__ import annotations

import random
from datetime import date
from functools import lru_cache

from sandbox import identifiers, names
from sandbox.population import Customer
from sandbox.records import BankEntry, Statement, Transfer
from sandbox.reference import COMPANY_ACCOUNTS, FOREIGN_SUPPLIER_NAMES, SUPPLIER_NAMES, CompanyAccount

_REFERENCE_FORMATS = {
    "camt053.001.08": "{yyyymmdd}{seq:08d}",
    "camt053.001.02": "BOC{yymmdd}{seq:07d}",
    "cnbank_csv": "K{yymmdd}{seq:07d}C",
    "mt940": "HK{yymmdd}{seq:06d}",
}
_CHINESE_PURPOSES = ("货款", "付货款", "采购款", "往来款", "材料款")
_SUPPLIER_PURPOSES = ("货款", "运费", "税费", "保险费", "电费", "设备款")
_MAX_CITED = 4  # invoice numbers a payer bothers to type


def _cite(invoice_ids: list[str]) -> str:
    cited = ",".join(invoice_ids[:_MAX_CITED])
    return cited + (f" 等{len(invoice_ids)}张" if len(invoice_ids) > _MAX_CITED else "")


def _mistype(rng: random.Random, invoice_id: str) -> str:
    position = rng.randrange(len(invoice_id) - 6, len(invoice_id))
    digit = invoice_id[position]
    wrong = str((int(digit) + rng.randint(1, 9)) % 10) if digit.isdigit() else digit
    return invoice_id[:position] + wrong + invoice_id[position + 1:]


def remittance_text(rng: random.Random, customer: Customer, invoice_ids: list[str], payer: str, partial: bool) -> str:
    """What the payer types in the payment's free text: invoice numbers (all, some, one mistyped,
    the last eight digits), a generic purpose, its own name, or nothing."""
    roll = rng.random()
    if customer.company.is_foreign:
        if roll < 0.55:
            return ("PART PAYMENT " if partial else "INV ") + " ".join(invoice_ids[:6])
        if roll < 0.65:
            return "PAYMENT INVOICE " + _mistype(rng, invoice_ids[0])
        if roll < 0.85:
            return "PAYMENT " + names.ascii_fold(customer.company.name.short)
        return ""
    purpose = "部分货款" if partial else "货款"
    if roll < 0.40:
        return f"{purpose} {_cite(invoice_ids)}"
    if roll < 0.50:
        return "支付发票" + "/".join(invoice_ids[:3])
    if roll < 0.55:
        return "发票号" + invoice_ids[0][-8:]
    if roll < 0.60:
        return f"{purpose}{_mistype(rng, invoice_ids[0])}"
    if roll < 0.82:
        return rng.choice(_CHINESE_PURPOSES)
    if roll < 0.92:
        return f"{payer}付款"
    return ""


def payer_name(rng: random.Random, customer: Customer) -> str:
    """Mostly the name of the account the customer always pays from; now and then another."""
    company = customer.company
    if customer.payer_name is None or rng.random() < 0.15:
        if company.is_foreign:
            name = names.foreign_payer_variant(rng, company.name)
        else:
            name = names.chinese_payer_variant(rng, company.name, company.legal_rep.name)
        if customer.payer_name is None:
            customer.payer_name = name
        return name
    return customer.payer_name


@lru_cache(maxsize=8)
def _day_codes(day: int) -> dict[str, str]:
    value = date.fromordinal(day)
    return {"yyyymmdd": f"{value:%Y%m%d}", "yymmdd": f"{value:%y%m%d}"}


class AccountBook:
    def __init__(self, account: CompanyAccount, opening: int):
        self.account = account
        self.balance = opening
        self.floor = opening // 5  # treasury keeps some cash on every account
        self.initial = opening
        self.entries: list[BankEntry] = []
        self.sequence = 0
        self.statement_year = 0
        self.statement_number = 0

    def next_reference(self, day: int) -> str:
        self.sequence += 1
        return _REFERENCE_FORMATS[self.account.format].format(**_day_codes(day), seq=self.sequence)


class Banks:
    def __init__(self, rng: random.Random, customer_count: int):
        self.rng = rng
        self.books = {
            a.account_id: AccountBook(a, (3_000 if a.currency == "CNY" else 300) * customer_count * 100)
            for a in COMPANY_ACCOUNTS
        }

    def receive(self, transfer: Transfer, day: int, partial: bool) -> BankEntry:
        """Book a customer's transfer on the account it was sent to."""
        customer = transfer.customer
        book = self.books[customer.account.account_id]
        invoice_ids = [invoice.invoice_id for invoice, _ in transfer.parts]
        payer = payer_name(self.rng, customer)
        if customer.company.is_foreign:
            end_to_end = invoice_ids[0] if self.rng.random() < 0.5 else f"PO{identifiers.digits(self.rng, 8)}"
        else:
            end_to_end = "NOTPROVIDED"
        entry = BankEntry(
            reference=book.next_reference(day), is_credit=True, amount=transfer.amount, counterparty=payer,
            counterparty_account=customer.company.bank_account,
            remittance=remittance_text(self.rng, customer, invoice_ids, payer, partial), end_to_end_id=end_to_end,
            kind="customer_payment", customer=customer, invoice_ids=tuple(invoice_ids),
        )
        book.entries.append(entry)
        return entry

    def close_day(self, day: int) -> list[Statement]:
        """Add the day's fees and outgoing payments, and issue every account's statement."""
        statements = []
        for book in self.books.values():
            self._pay_out(book, day)
            self.rng.shuffle(book.entries)  # statements list entries in booking-time order, not by kind
            year = date.fromordinal(day).year
            if year != book.statement_year:
                book.statement_year, book.statement_number = year, 0
            book.statement_number += 1
            statement = Statement(book.account, day, book.statement_number, book.balance, book.entries)
            book.balance = statement.closing
            book.entries = []
            book.sequence = 0
            statements.append(statement)
        return statements

    def _pay_out(self, book: AccountBook, day: int) -> None:
        rng = self.rng
        domestic = book.account.currency == "CNY"
        received = sum(e.amount for e in book.entries)
        for _ in range(rng.randint(0, 1) + (1 if book.entries else 0)):
            fee = rng.randint(5, 50) * 100 if domestic else rng.randint(15, 35) * 100
            book.entries.append(BankEntry(book.next_reference(day), False, fee, "", None,
                                          "手续费" if domestic else "CHARGES", "NONREF", "bank_fee"))
        fees = sum(e.amount for e in book.entries if not e.is_credit)
        available = book.balance + received - fees - book.floor
        target = int(received * rng.uniform(0.5, 1.0) + max(0, book.balance - book.initial) * 0.25)
        outgoing = min(available, target)
        if outgoing < 100_000:
            return
        for share in _split(rng, outgoing, rng.randint(1, 3)):
            supplier = rng.choice(SUPPLIER_NAMES if domestic else FOREIGN_SUPPLIER_NAMES)
            purpose = rng.choice(_SUPPLIER_PURPOSES) if domestic else f"INVOICE {identifiers.digits(rng, 6)}"
            book.entries.append(BankEntry(
                book.next_reference(day), False, share, supplier,
                identifiers.make_local_account_number(rng, "CN" if domestic else "US"), purpose, "NOTPROVIDED",
                "supplier_payment"))


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(1, total - 1) for _ in range(parts - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
