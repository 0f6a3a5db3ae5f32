"""Row validation: turn a record's raw values into typed values, or say which field is wrong and why.

Normalisation follows what real exports send: amounts with thousand separators or full-width
digits, dates as 2026-10-01, 2026/10/01, 20261001 or 2026年10月1日.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

import pycountry
from stdnum import iban as iban_number
from stdnum.cn import ric as resident_id_number
from stdnum.cn import uscc as uscc_number
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from ingestion.feeds import Column, Feed

# Active ISO 4217 codes, from pycountry's copy of the standard.
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_CREDIT = {"crdt", "c", "cr", "credit", "贷", "收入", "贷方"}
_DEBIT = {"dbit", "d", "dr", "debit", "借", "支出", "借方"}
_MOBILE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
_INTERNATIONAL_PHONE = re.compile(r"\+\d{7,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRUE = {"true", "t", "1", "yes", "y", "是"}
_FALSE = {"false", "f", "0", "no", "n", "否"}


# Largest magnitude a rate column (numeric(18,8)) holds: beyond it the COPY would fail the file.
_RATE_LIMIT = Decimal("1e10")


class InvalidValue(ValueError):
    """A value (or a whole row) that cannot be taken. ``problem`` is a stable category stewards group
    quarantine reasons by ("not a date"); ``detail`` says what was found (the value, counts)."""

    def __init__(self, problem: str, detail: str | None = None):
        self.problem, self.detail = problem, detail
        super().__init__(problem if detail is None else f"{problem}: {detail}")


@dataclass(frozen=True)
class Rejection:
    field: str
    problem: str
    detail: str | None = None

    @property
    def reason(self) -> str:
        return self.problem if self.detail is None else f"{self.problem}: {self.detail}"

    @property
    def kind(self) -> str:
        """The category without the offending value or counts, for grouping: "invoice_date: not a date"."""
        return f"{self.field}: {self.problem}"


def _half_width(text: str) -> str:
    # NFKC folds full-width digits, letters and punctuation (１２３，４５６．７８) to ASCII.
    return unicodedata.normalize("NFKC", text).strip()


def parse_amount(text: str) -> Decimal:
    cleaned = _half_width(text).replace(",", "").replace(" ", "").replace("¥", "").replace("￥", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidValue("not an amount", repr(text)) from None
    if not value.is_finite():
        raise InvalidValue("not an amount", repr(text))
    # range first: quantizing a huge value (1e30) raises instead of answering
    if abs(value) >= Decimal("1e16"):
        raise InvalidValue("amount out of range", repr(text))
    if value != value.quantize(Decimal("0.01")):
        raise InvalidValue("more than 2 decimals", repr(text))
    return value


def parse_date(text: str) -> date:
    cleaned = _half_width(text)
    if "T" in cleaned:
        # an ISO datetime: the date is taken, but only when what follows the T is a time of day
        cleaned, clock = cleaned.split("T", 1)
        try:
            time.fromisoformat(clock)
        except ValueError:
            raise InvalidValue("not a date", repr(text)) from None
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise InvalidValue("not a date", repr(text))


def _convert(column: Column, raw: object) -> object:
    if isinstance(raw, bool | int) and column.type in {"boolean", "integer"}:
        if column.type == "boolean" and not isinstance(raw, bool):
            raise InvalidValue("not a boolean", repr(raw))
        return raw
    text = str(raw)
    match column.type:
        case "text":
            return text.strip()
        case "date":
            return parse_date(text)
        case "amount":
            return parse_amount(text)
        case "integer":
            cleaned = _half_width(text)
            if not re.fullmatch(r"-?\d{1,9}", cleaned):
                raise InvalidValue("not an integer", repr(text))
            return int(cleaned)
        case "boolean":
            lowered = _half_width(text).lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise InvalidValue("not a boolean", repr(text))
        case "currency":
            code = _half_width(text).upper()
            if code not in ISO_4217:
                raise InvalidValue("unknown ISO 4217 currency", repr(text))
            return code
        case "uscc":
            code = _half_width(text).upper()
            if not uscc_number.is_valid(code):
                raise InvalidValue("invalid Unified Social Credit Code", repr(text))
            return code
        case "rate":
            try:
                rate = Decimal(_half_width(text).replace(",", ""))
            except InvalidOperation:
                raise InvalidValue("not a rate", repr(text)) from None
            if not rate.is_finite():
                raise InvalidValue("not a rate", repr(text))
            if abs(rate) >= _RATE_LIMIT:
                raise InvalidValue("rate out of range", repr(text))
            return rate
        case "direction":
            lowered = _half_width(text).lower()
            if lowered in _CREDIT:
                return "CRDT"
            if lowered in _DEBIT:
                return "DBIT"
            raise InvalidValue("not a credit/debit indicator", repr(text))
        case "resident_id":
            code = _half_width(text).upper()
            if not resident_id_number.is_valid(code):
                raise InvalidValue("invalid resident identity number (length, date or check character)")
            return code
        case "mobile":
            number = re.sub(r"[\s\-()]", "", _half_width(text))
            if not (_MOBILE.fullmatch(number) or _INTERNATIONAL_PHONE.fullmatch(number)):
                raise InvalidValue("not a mobile phone number")
            return number
        case "email":
            address = _half_width(text)
            if not _EMAIL.fullmatch(address):
                raise InvalidValue("not an e-mail address")
            return address
        case "iban":
            try:
                return iban_number.validate(_half_width(text))
            except ValidationError:
                raise InvalidValue("invalid IBAN", repr(text)) from None
        case "vat":
            try:
                # compact() itself rejects country prefixes it does not know (e.g. GB since Brexit)
                return eu_vat.validate(_half_width(text))
            except ValidationError:
                raise InvalidValue("invalid VAT number", repr(text)) from None
    raise AssertionError(f"unknown column type {column.type}")


def validate(feed: Feed, fields: dict[str, object]) -> tuple[list[object] | None, Rejection | None]:
    """Typed values in the feed's column order, or the first problem found."""
    if "__error__" in fields:  # the reader could not make fields of the row: an InvalidValue
        error = fields["__error__"]
        return None, Rejection("(row)", error.problem, error.detail)
    values = []
    for column in feed.columns:
        raw = fields.get(column.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column.required:
                return None, Rejection(column.name, "required value is missing")
            values.append(None)
            continue
        try:
            values.append(_convert(column, raw))
        except InvalidValue as error:
            # A reason must never carry personal data: name the problem, not the value.
            if column.pii and error.detail is not None:
                return None, Rejection(column.name, f"invalid {column.type.replace('_', ' ')}")
            return None, Rejection(column.name, error.problem, error.detail)
    return values, None
