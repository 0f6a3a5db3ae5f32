"""Row validation: turn a record's raw values into typed values, or say which field is wrong and why.

Normalisation follows what real exports send: amounts with thousand separators or full-width
digits, dates as 2026-10-01, 2026/10/01, 20261001 or 2026年10月1日.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
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


class InvalidValue(ValueError):
    pass


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: str

    @property
    def kind(self) -> str:
        """The reason without the offending value, for counting: "invoice_date: not a date"."""
        return f"{self.field}: {self.reason.split(':')[0]}"


def _half_width(text: str) -> str:
    # NFKC folds full-width digits, letters and punctuation (１２３，４５６．７８) to ASCII.
    return unicodedata.normalize("NFKC", text).strip()


def parse_amount(text: str) -> Decimal:
    cleaned = _half_width(text).replace(",", "").replace(" ", "").replace("¥", "").replace("￥", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidValue(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise InvalidValue(f"not an amount: {text!r}")
    # range first: quantizing a huge value (1e30) raises instead of answering
    if abs(value) >= Decimal("1e16"):
        raise InvalidValue(f"amount out of range: {text!r}")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidValue(f"more than 2 decimals: {text!r}")
    return value


def parse_date(text: str) -> date:
    cleaned = _half_width(text)
    if "T" in cleaned:
        cleaned = cleaned.split("T", 1)[0]
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise InvalidValue(f"not a date: {text!r}")


def _convert(column: Column, raw: object) -> object:
    if isinstance(raw, bool | int) and column.type in {"boolean", "integer"}:
        if column.type == "boolean" and not isinstance(raw, bool):
            raise InvalidValue(f"not a boolean: {raw!r}")
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
                raise InvalidValue(f"not an integer: {text!r}")
            return int(cleaned)
        case "boolean":
            lowered = _half_width(text).lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise InvalidValue(f"not a boolean: {text!r}")
        case "currency":
            code = _half_width(text).upper()
            if code not in ISO_4217:
                raise InvalidValue(f"unknown ISO 4217 currency: {text!r}")
            return code
        case "uscc":
            code = _half_width(text).upper()
            if not uscc_number.is_valid(code):
                raise InvalidValue(f"invalid Unified Social Credit Code: {text!r}")
            return code
        case "rate":
            try:
                return Decimal(_half_width(text).replace(",", ""))
            except InvalidOperation:
                raise InvalidValue(f"not a rate: {text!r}") from None
        case "direction":
            lowered = _half_width(text).lower()
            if lowered in _CREDIT:
                return "CRDT"
            if lowered in _DEBIT:
                return "DBIT"
            raise InvalidValue(f"not a credit/debit indicator: {text!r}")
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
                raise InvalidValue(f"invalid IBAN: {text!r}") from None
        case "vat":
            try:
                # compact() itself rejects country prefixes it does not know (e.g. GB since Brexit)
                return eu_vat.validate(_half_width(text))
            except ValidationError:
                raise InvalidValue(f"invalid VAT number: {text!r}") from None
    raise AssertionError(f"unknown column type {column.type}")


def validate(feed: Feed, fields: dict[str, object]) -> tuple[list[object] | None, Rejection | None]:
    """Typed values in the feed's column order, or the first problem found."""
    if "__error__" in fields:
        return None, Rejection("(row)", str(fields["__error__"]))
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
            reason = str(error)
            # A reason must never carry personal data: name the problem, not the value.
            if column.pii and str(raw).strip() and str(raw).strip() in reason:
                reason = f"invalid {column.type.replace('_', ' ')}"
            return None, Rejection(column.name, reason)
    return values, None
