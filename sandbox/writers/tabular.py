"""CSV and JSON-lines extracts laid out exactly as ``ingestion.feeds`` (the contract) describes them.

A ``Layout`` says how one source system exports one feed: which columns, which header names
(English ``name`` or the first Chinese alias), which encoding, which date style and line ending.
Rows arrive from the simulation as tuples in the feed's column order with typed values (days as
ordinals, money as integer cents) and leave as lists of cell strings; the defect injector works on
those cells before they are serialised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from json.encoder import encode_basestring

from ingestion.feeds import BANK_ENTRY_COLUMNS, Column, Feed, feed_named

ISO_DATE = "%Y-%m-%d"
SLASH_DATE = "%Y/%m/%d"
COMPACT_DATE = "%Y%m%d"
CHINESE_DATE = "chinese"  # 2026年10月5日: no zero padding, so not an strftime pattern


@dataclass(frozen=True)
class Layout:
    feed: Feed
    columns: tuple[Column, ...]
    header: tuple[str, ...]
    encoding: str
    date_format: str
    line_terminator: str = "\n"

    @property
    def source(self) -> str:
        return self.feed.source

    def file_name(self, stem: str) -> str:
        """The feed's file-name pattern with its ``*`` filled in (the business date, YYYYMMDD)."""
        return self.feed.pattern.replace("*", stem)


def _layout(feed_name: str, *, chinese: bool = False, encoding: str = "utf-8", date_format: str = ISO_DATE,
            line_terminator: str = "\n", columns: Sequence[Column] | None = None) -> Layout:
    feed = feed_named(feed_name)
    chosen = tuple(columns or feed.columns)
    header = tuple(c.aliases[0] if chinese and c.aliases else c.name for c in chosen)
    return Layout(feed, chosen, header, encoding, date_format, line_terminator)


# The Chinese bank's export: every column it has a Chinese name for, plus the statement id.
_CN_BANK_COLUMNS = tuple(c for c in BANK_ENTRY_COLUMNS if c.aliases or c.name == "statement_id")

LAYOUTS: dict[str, Layout] = {
    # Kingdee customer master and Yonyou invoice register: GB18030, Chinese headers, Windows lines.
    "erp_customers": _layout("erp_customers", chinese=True, encoding="gb18030", date_format=CHINESE_DATE,
                             line_terminator="\r\n"),
    "erp_invoices": _layout("erp_invoices", chinese=True, encoding="gb18030", date_format=SLASH_DATE,
                            line_terminator="\r\n"),
    # The finance data warehouse extracts (SAP-style): UTF-8, English headers.
    **{name: _layout(name) for name in ("erp_credit_limits", "erp_sales_orders", "erp_credit_notes", "erp_payments",
                                        "erp_write_offs", "erp_open_items", "erp_fx_rates")},
    **{name: _layout(name) for name in ("crm_accounts", "crm_contacts", "crm_owners", "bureau_company_reports",
                                        "bureau_events")},
    "bank_cn_csv": _layout("bank_cn_csv", chinese=True, encoding="gb18030", date_format=COMPACT_DATE,
                           line_terminator="\r\n", columns=_CN_BANK_COLUMNS),
}


class _DateTexts(dict):
    """Day ordinal -> text in one style; filled on first use, as millions of rows share a few
    hundred dates."""

    def __init__(self, style: str):
        super().__init__()
        self.style = style

    def __missing__(self, day: int) -> str:
        value = date.fromordinal(day)
        if self.style == CHINESE_DATE:
            text = f"{value.year}年{value.month}月{value.day}日"
        else:
            text = value.strftime(self.style)
        self[day] = text
        return text


_DATE_TEXTS: dict[str, _DateTexts] = {}


def _date_texts(style: str) -> _DateTexts:
    texts = _DATE_TEXTS.get(style)
    if texts is None:
        texts = _DATE_TEXTS[style] = _DateTexts(style)
    return texts


def format_date(day: int, style: str = ISO_DATE) -> str:
    return _date_texts(style)[day]


def money(cents: int) -> str:
    if cents < 0:
        return "-" + money(-cents)
    whole, fraction = divmod(cents, 100)
    return f"{whole}.{fraction:02d}"


@cache
def row_formatter(layout: Layout) -> Callable[[Sequence[object]], list[str]]:
    """A function turning one typed row into its cells, compiled once per layout: formatting is
    the generator's innermost loop (tens of millions of cells at medium scale), and a generated
    list display is several times faster than calling a converter per cell."""
    positions = {c.name: i for i, c in enumerate(layout.feed.columns)}
    cells = []
    for column in layout.columns:
        value = f"row[{positions[column.name]}]"
        text = {
            "date": f"dates[{value}]",
            "amount": f"money({value})",
            "boolean": f"('true' if {value} else 'false')",
        }.get(column.type, f"str({value})")
        cells.append(f"('' if {value} is None else {text})")
    source = f"lambda row: [{', '.join(cells)}]"
    return eval(source, {"dates": _date_texts(layout.date_format), "money": money})


def format_rows(layout: Layout, rows: Iterable[Sequence[object]]) -> list[list[str]]:
    """Typed tuples (in the feed's column order) to cell strings in the layout's column order."""
    formatter = row_formatter(layout)
    width = len(layout.feed.columns)
    formatted = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{layout.feed.name}: row has {len(row)} values for {width} columns: {row!r}")
        formatted.append(formatter(row))
    return formatted


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]], line_terminator: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_terminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


_NUMBER_CHARACTERS = frozenset("-0123456789.")


def _is_json_literal(kind: str, cell: str) -> bool:
    if kind in ("amount", "integer"):
        return set(cell) <= _NUMBER_CHARACTERS
    return kind == "boolean" and cell in ("true", "false")


def jsonl_text(layout: Layout, rows: Iterable[Sequence[str]]) -> str:
    """One JSON object per line. Amounts and integers are JSON numbers, booleans JSON booleans,
    empty cells null; a cell a defect made non-numeric stays a string, as a buggy export would."""
    names = [encode_basestring(c.name) for c in layout.columns]
    kinds = [c.type for c in layout.columns]
    lines = []
    for cells in rows:
        members = []
        for name, kind, cell in zip(names, kinds, cells, strict=True):
            if cell == "":
                value = "null"
            elif _is_json_literal(kind, cell):
                value = cell
            else:
                value = encode_basestring(cell)
            members.append(f"{name}: {value}")
        lines.append("{" + ", ".join(members) + "}\n")
    return "".join(lines)
