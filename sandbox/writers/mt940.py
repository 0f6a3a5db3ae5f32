"""SWIFT MT940 customer statements as a Hong Kong bank's e-banking export writes them.

Quirks kept on purpose, because real files have them: ``:28C:00042/001`` statement and sequence
numbers, ``:61:`` lines carrying the customer's reference, ``//`` and the bank's reference, then a
supplementary-details line; ``:86:`` spread over several lines with ``/ORDP/`` (ordering party),
``/REMI/`` (remittance) and ``/ACCT/`` sub-fields; everything upper-case ASCII in SWIFT's
character set; CRLF line ends.
"""

from __future__ import annotations

import textwrap
from datetime import date

from sandbox.names import swift_text
from sandbox.records import BankEntry, Statement

_LINE = 65  # width of a :86: line
_TRANSACTION_TYPES = {"customer_payment": "NTRF", "supplier_payment": "NTRF", "bank_fee": "NCHG"}


def _amount(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def _balance(tag: str, cents: int, day: date, currency: str) -> str:
    mark = "C" if cents >= 0 else "D"
    return f":{tag}:{mark}{day:%y%m%d}{currency}{_amount(abs(cents))}"


def _details(entry: BankEntry) -> list[str]:
    role = "ORDP" if entry.is_credit else "BENM"
    fields = [f"/{role}/{swift_text(entry.counterparty, _LINE - 6)}"] if entry.counterparty else []
    remittance = swift_text(entry.remittance, 4 * _LINE)
    if remittance:
        fields += textwrap.wrap(remittance, _LINE, initial_indent="/REMI/", break_long_words=True)
    if entry.counterparty_account:
        fields.append(f"/ACCT/{entry.counterparty_account}")
    return fields[:6] or ["/REMI/NONREF"]


def _statement_line(entry: BankEntry, day: date) -> list[str]:
    mark = "C" if entry.is_credit else "D"
    customer_reference = swift_text(entry.end_to_end_id, 16).replace(" ", "") or "NONREF"
    supplementary = swift_text(entry.counterparty or entry.remittance, 34)
    line = (f":61:{day:%y%m%d}{day:%m%d}{mark}{_amount(entry.amount)}{_TRANSACTION_TYPES[entry.kind]}"
            f"{customer_reference}//{entry.reference}")
    return [line, supplementary] if supplementary else [line]


def mt940_document(statement: Statement) -> str:
    account = statement.account
    day = date.fromordinal(statement.day)
    lines = [
        f":20:{day:%y%m%d}{account.account_id[-6:]}",
        f":25:{account.account_id}",
        f":28C:{statement.number:05d}/001",
        _balance("60F", statement.opening, day, account.currency),
    ]
    for entry in statement.entries:
        lines.extend(_statement_line(entry, day))
        details = _details(entry)
        lines.append(":86:" + details[0])
        lines.extend(details[1:])
    closing = statement.closing
    lines += [_balance("62F", closing, day, account.currency), _balance("64", closing, day, account.currency), "-"]
    return "\r\n".join(lines) + "\r\n"
