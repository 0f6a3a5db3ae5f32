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
from stdnum.cn import uscc as uscc_number

from ingestion.feeds import Column, Feed

# Active ISO 4217 codes, from pycountry's copy of the standard.
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_TRUE = {"true", "t", "1", "yes", "y", "是"}
_FALSE = {"false", "f", "0", "no", "n", "否"}


class InvalidValue(ValueError):
    pass


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: str


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
    if value != value.quantize(Decimal("0.01")):
        raise InvalidValue(f"more than 2 decimals: {text!r}")
    if abs(value) >= Decimal("1e16"):
        raise InvalidValue(f"amount out of range: {text!r}")
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
            return None, Rejection(column.name, str(error))
    return values, None
