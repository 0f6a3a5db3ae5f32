"""The ways real feeds go wrong, injected at configurable rates and recorded in
``ground_truth/defects.csv`` (``file,line,defect``; line 1 is the header, empty for a whole file).

Each file's defects come from its own random stream, derived from the seed and the file's path,
so they neither disturb the simulation nor shift when another feed changes. Defects touch values,
never keys: an id stays readable so that every row can still be traced.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sandbox.identifiers import USCC_ALPHABET, break_check_character
from sandbox.writers.tabular import Layout

# name: (default rate, unit the rate applies to)
CATALOGUE: dict[str, tuple[float, str]] = {
    "duplicate_row": (0.0005, "row of a delta"),
    "redelivered_file": (0.01, "file"),
    "corrected_redelivery": (0.005, "file"),
    "late_file": (0.01, "file"),
    "bad_date": (0.0002, "row"),
    "formatted_amount": (0.001, "row"),
    "malformed_amount": (0.0002, "row"),
    "invalid_check_character": (0.0005, "row with a USCC or resident ID"),
    "unknown_currency": (0.0002, "row"),
    "truncated_file": (0.003, "file"),
    "added_column": (0.004, "CSV file"),
    "renamed_column": (0.004, "CSV file"),
    "wrong_encoding": (0.004, "file with non-ASCII text"),
}
DEFAULT_RATES = {name: rate for name, (rate, _) in CATALOGUE.items()}

# Value defects in the order they are drawn, with the column types each can hit.
_VALUE_DEFECTS = (
    ("bad_date", ("date",)),
    ("formatted_amount", ("amount",)),
    ("malformed_amount", ("amount",)),
    ("invalid_check_character", ("uscc", "resident_id")),
    ("unknown_currency", ("currency",)),
)
_BAD_DATES = ("2026-13-45", "31/31/2026", "2026-02-30", "2026-1O-05", "0000-00-00")
_MALFORMED_AMOUNTS = ("N/A", "#VALUE!", "--", "12,34.5.6")
_UNKNOWN_CURRENCIES = ("RMB", "XYZ")
_FULL_WIDTH_DIGITS = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
_CHECK_ALPHABETS = {"uscc": USCC_ALPHABET, "resident_id": "0123456789X"}
_ADDED_COLUMNS = {True: ("备注", "制单人", "审核人"), False: ("remarks", "export_batch", "last_modified_by")}
_RENAMES = {
    "城市": "所在城市", "行业": "所属行业", "状态": "客户状态", "法人手机": "法人电话", "税号": "纳税人识别号",
    "国家": "国家/地区", "创建日期": "建档日期", "注册号": "工商注册号", "上级客户编码": "母公司编码",
    "销售订单号": "订单编号", "收款条件": "付款条件", "起息日": "计息日期", "对方户名": "对方名称",
    "对方账号": "对方帐号", "附言": "用途", "法定代表人": "法人代表", "法人身份证号": "法人证件号码",
    "city": "town", "industry": "sector", "title": "job_title", "email": "e_mail", "mobile": "mobile_phone",
    "reason": "reason_code", "change_reason": "reason_text", "previous_limit": "old_limit",
    "changed_by": "user_id", "bank_reference": "bank_ref", "created_date": "create_date", "owner_id": "owner",
    "team": "sales_team", "description": "details", "amount": "claim_amount",
}


def validate_rates(overrides: Mapping[str, float] | None) -> dict[str, float]:
    rates = dict(DEFAULT_RATES)
    for name, rate in (overrides or {}).items():
        if name not in CATALOGUE:
            raise ValueError(f"unknown defect {name!r}; the catalogue has {', '.join(CATALOGUE)}")
        if not 0 <= rate <= 1:
            raise ValueError(f"defect rate for {name} must be between 0 and 1, got {rate}")
        rates[name] = rate
    return rates


def _positions(rng: random.Random, rate: float, count: int) -> list[int]:
    """Indexes hit with probability ``rate`` each, drawn by geometric gaps (cost ~ hits, not rows)."""
    if rate <= 0 or count == 0:
        return []
    if rate >= 1:
        return list(range(count))
    log_miss = math.log(1 - rate)
    hits, index = [], -1
    while True:
        index += 1 + int(math.log(1 - rng.random()) / log_miss)
        if index >= count:
            return hits
        hits.append(index)


def _is_plain_amount(cell: str) -> bool:
    whole, _, cents = cell.partition(".")
    return whole.isdigit() and len(cents) == 2 and cents.isdigit()


def _corrupt(rng: random.Random, defect: str, kind: str, cell: str) -> str | None:
    match defect:
        case "bad_date":
            return rng.choice(_BAD_DATES)
        case "formatted_amount":
            if not _is_plain_amount(cell):
                return None
            if int(cell.partition(".")[0]) >= 1000 and rng.random() < 0.6:
                return f"{int(cell.partition('.')[0]):,}.{cell.partition('.')[2]}"
            return cell.translate(_FULL_WIDTH_DIGITS)
        case "malformed_amount":
            return rng.choice(_MALFORMED_AMOUNTS)
        case "invalid_check_character":
            return break_check_character(cell, _CHECK_ALPHABETS[kind])
        case "unknown_currency":
            return rng.choice(_UNKNOWN_CURRENCIES)
    raise AssertionError(defect)


@dataclass(frozen=True)
class Injector:
    seed: int
    rates: dict[str, float]

    def rng_for(self, relative_path: str) -> random.Random:
        return random.Random(f"{self.seed}:defects:{relative_path}")

    def spoil_values(self, rng: random.Random, layout: Layout, rows: list[list[str]]) -> dict[int, str]:
        """Spoil values in place; returns row index -> defect (at most one per row)."""
        hit: dict[int, str] = {}
        for defect, kinds in _VALUE_DEFECTS:
            columns = [i for i, c in enumerate(layout.columns) if c.type in kinds]
            if not columns:
                continue
            for index in _positions(rng, self.rates[defect], len(rows)):
                if index in hit:
                    continue
                filled = [i for i in columns if rows[index][i]]
                if not filled:
                    continue
                column = rng.choice(filled)
                spoiled = _corrupt(rng, defect, layout.columns[column].type, rows[index][column])
                if spoiled is not None and spoiled != rows[index][column]:
                    rows[index][column] = spoiled
                    hit[index] = defect
        return hit

    def repeat_rows(self, rng: random.Random, rows: list[list[str]], spoiled: dict[int, str]) -> list[tuple[int, str]]:
        """Repeat some unspoiled rows right after themselves, as a re-run delta job does; returns
        (row index, defect) for every defective row after the insertions."""
        repeated = {i for i in _positions(rng, self.rates["duplicate_row"], len(rows)) if i not in spoiled}
        found: list[tuple[int, str]] = []
        expanded = []
        for index, row in enumerate(rows):
            if index in spoiled:
                found.append((len(expanded), spoiled[index]))
            expanded.append(row)
            if index in repeated:
                found.append((len(expanded), "duplicate_row"))
                expanded.append(list(row))
        rows[:] = expanded
        return found

    def corrupt_header(self, rng: random.Random, layout: Layout, header: list[str],
                       rows: list[list[str]]) -> list[str]:
        """Schema drift: an unknown column appears, or an optional one is renamed."""
        found = []
        if rng.random() < self.rates["added_column"]:
            chinese = not all(name.isascii() for name in header)
            name = rng.choice(_ADDED_COLUMNS[chinese])
            header.append(name)
            for row in rows:
                row.append(rng.choice(("", "", "E10112", "月结")) if chinese else rng.choice(("", "", "BATCH-7")))
            found.append("added_column")
        optional = [i for i, c in enumerate(layout.columns) if not c.required]
        if optional and rng.random() < self.rates["renamed_column"]:
            index = rng.choice(optional)
            header[index] = _RENAMES.get(header[index], f"{header[index]}_old")
            found.append("renamed_column")
        return found

    def encoding(self, rng: random.Random, expected: str, text: str) -> tuple[str, bool]:
        """The encoding a file is delivered in, and whether that is the wrong one."""
        if text.isascii() or rng.random() >= self.rates["wrong_encoding"]:
            return expected, False
        if expected == "gb18030":
            return "utf-8", True
        try:  # a GB18030 file that happens to be valid UTF-8 would not be a defect at all
            text.encode("gb18030").decode("utf-8")
        except UnicodeDecodeError:
            return "gb18030", True
        return expected, False

    def delivery(self, rng: random.Random, *, can_cut: bool, can_correct: bool) -> str | None:
        """At most one of: an identical re-delivery, a corrected one, a truncated first delivery."""
        roll = rng.random()
        for defect, possible in (("redelivered_file", True), ("corrected_redelivery", can_correct),
                                 ("truncated_file", can_cut)):
            rate = self.rates[defect]
            if possible and roll < rate:
                return defect
            roll -= rate
        return None

    def days_late(self, rng: random.Random) -> int:
        return rng.randint(2, 6) if rng.random() < self.rates["late_file"] else 0


def miscorrect(rng: random.Random, layout: Layout, rows: list[list[str]]) -> tuple[list[list[str]], list[int]]:
    """The wrong first delivery of a corrected re-delivery: some amounts (or rates) off by a
    factor of ten, as after a botched decimal setting. Returns the rows and the spoiled indexes."""
    columns = [i for i, c in enumerate(layout.columns) if c.type in ("amount", "rate")]
    candidates = [i for i, row in enumerate(rows) if any(_shiftable(row[c]) for c in columns)]
    if not candidates:
        return rows, []
    spoiled = sorted(rng.sample(candidates, max(1, min(len(candidates), round(len(rows) * 0.02)))))
    wrong = [list(row) for row in rows]
    for index in spoiled:
        column = rng.choice([c for c in columns if _shiftable(wrong[index][c])])
        wrong[index][column] = _times_ten(wrong[index][column])
    return wrong, spoiled


def _shiftable(cell: str) -> bool:
    whole, dot, fraction = cell.partition(".")
    return bool(dot) and whole.isdigit() and fraction.isdigit()


def _times_ten(cell: str) -> str:
    return str(Decimal(cell) * 10)  # keeps the number of decimals: 1234.50 -> 12345.00


def cut(rng: random.Random, text: str, *, first_line: int) -> tuple[str, int]:
    """The file cut off in the middle of a record, on line ``first_line`` (1-based) or later:
    returns the truncated text and the number of the line that was cut."""
    lines = text.splitlines(keepends=True)
    candidates = [n for n in range(first_line, len(lines) + 1) if len(lines[n - 1].rstrip("\r\n")) >= 2]
    number = rng.choice(candidates)
    line = lines[number - 1].rstrip("\r\n")
    return "".join(lines[:number - 1]) + line[:rng.randint(1, len(line) - 1)], number
