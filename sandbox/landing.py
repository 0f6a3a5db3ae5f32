"""The drop zone: writes each delivery to ``landing/<source>/<business date>/<file>`` the way
the source system would, spoiled by the defect injector, and tells the ground truth what it did."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.days import stamp
from sandbox.defects import Injector, cut, miscorrect
from sandbox.records import Statement
from sandbox.truth import GroundTruth
from sandbox.writers.camt053 import camt053_document
from sandbox.writers.cnbank import cnbank_rows
from sandbox.writers.mt940 import mt940_document
from sandbox.writers.tabular import LAYOUTS, Layout, csv_text, format_date, format_rows, jsonl_text, row_formatter

_DOCUMENT_FIRST_RECORD_LINE = {"camt053": 3, "mt940": 5}  # where a truncation may start
_WEEKLY_EXTRACTS = frozenset(("crm_accounts", "crm_contacts", "crm_owners"))


def redelivery_name(name: str, number: int = 2) -> str:
    stem, _, extension = name.rpartition(".")
    return f"{stem}__{number}.{extension}"


class Landing:
    def __init__(self, out: Path, injector: Injector, truth: GroundTruth):
        self.root = out / "landing"
        self.injector = injector
        self.truth = truth
        self.files = 0
        self._folders: set[Path] = set()
        self._last_extract: dict[str, dict[tuple, list[str]]] = {}

    # --- the sink interface the simulation delivers to -------------------------------------------

    def rows(self, feed: str, day: int, rows: list[tuple], *, is_delta: bool) -> None:
        layout = LAYOUTS[feed]
        cells = self._weekly_extract(layout, rows) if feed in _WEEKLY_EXTRACTS else format_rows(layout, rows)
        self._table(layout, day, stamp(day), cells, is_delta=is_delta)

    def _weekly_extract(self, layout: Layout, rows: list[tuple]) -> list[list[str]]:
        """Weekly full extracts repeat last week's rows almost entirely: format only what changed."""
        formatter = row_formatter(layout)
        last_week = self._last_extract.get(layout.feed.name, {})
        this_week = {}
        cells = []
        for row in rows:
            formatted = last_week.get(row)
            if formatted is None:
                formatted = formatter(row)
            this_week[row] = formatted
            cells.append(list(formatted))  # a copy: defects spoil cells in place
        self._last_extract[layout.feed.name] = this_week
        return cells

    def statement(self, statement: Statement) -> None:
        account = statement.account
        stem = f"{account.account_id}_{stamp(statement.day)}"
        if account.format == "cnbank_csv":
            layout = LAYOUTS["bank_cn_csv"]
            path = self._table(layout, statement.day, stem, format_rows(layout, cnbank_rows(statement)),
                               is_delta=False)
        elif account.format.startswith("camt053"):
            path = self._document("bank", "camt053", f"camt053_{stem}.xml", statement.day, camt053_document(statement))
        else:
            path = self._document("bank", "mt940", f"mt940_{stem}.sta", statement.day, mt940_document(statement))
        self.truth.statement(path, statement)

    def entity(self, system: str, record_id: str, true_id: str) -> None:
        self.truth.entity(system, record_id, true_id)

    # --- files -----------------------------------------------------------------------------------

    def _write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        # Write beside the target under a dot-name, then rename: discovery skips dot-files, so a
        # full disk or a kill mid-write never leaves a half file where ingestion would load it.
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror, str(path)) from error
        self.files += 1

    def _table(self, layout: Layout, day: int, stem: str, cells: list[list[str]], *, is_delta: bool) -> str:
        """A CSV or JSON-lines extract with its row, header, encoding and delivery defects."""
        folder = f"{layout.source}/{format_date(day)}"
        name = layout.file_name(stem)
        relative = f"{folder}/{name}"
        injector = self.injector
        rng = injector.rng_for(relative)
        is_csv = layout.feed.format == "csv"
        spoiled = injector.spoil_values(rng, layout, cells)
        header = list(layout.header)
        header_defects = injector.corrupt_header(rng, layout, header, cells) if is_csv else []
        row_defects = injector.repeat_rows(rng, cells, spoiled) if is_delta else sorted(spoiled.items())

        def render(rows: list[list[str]]) -> str:
            return csv_text(header, rows, layout.line_terminator) if is_csv else jsonl_text(layout, rows)

        text = render(cells)
        encoding, wrong_encoding = injector.encoding(rng, layout.encoding, text)
        first_row_line = 2 if is_csv else 1
        line_defects = [(i + first_row_line, d) for i, d in row_defects] + [(1, d) for d in header_defects]
        file_defects = ["wrong_encoding"] if wrong_encoding else []
        delivery = injector.delivery(rng, can_cut=bool(cells), can_correct=bool(cells))
        late = injector.days_late(rng)
        first_text, first_line_defects, second_text = text, line_defects, None
        if delivery == "redelivered_file":
            second_text = text
        elif delivery == "corrected_redelivery":
            wrong, miscorrected = miscorrect(rng, layout, cells)
            if miscorrected:
                first_text, second_text = render(wrong), text
                first_line_defects = line_defects + [(i + first_row_line, delivery) for i in miscorrected]
            else:
                delivery = None
        elif delivery == "truncated_file":
            first_text, cut_line = cut(rng, text, first_line=first_row_line)
            first_line_defects = [(line, d) for line, d in line_defects if line < cut_line]
            second_text = text
        self._deliver(relative, day, late, first_text.encode(encoding), first_line_defects,
                      file_defects + ["late_file"] * bool(late) + ["truncated_file"] * (delivery == "truncated_file"))
        if second_text is not None:
            extra = ["redelivered_file"] if delivery == "redelivered_file" else []
            self._deliver(f"{folder}/{redelivery_name(name)}", day, late + rng.randint(1, 3),
                          second_text.encode(encoding), line_defects, file_defects + extra)
        return relative

    def _document(self, source: str, kind: str, name: str, day: int, text: str) -> str:
        """A bank statement document: only whole-file defects (its bytes are the bank's, not a table)."""
        relative = f"{source}/{format_date(day)}/{name}"
        rng = self.injector.rng_for(relative)
        delivery = self.injector.delivery(rng, can_cut=True, can_correct=False)
        late = self.injector.days_late(rng)
        first_text = text
        if delivery == "truncated_file":
            first_text, _ = cut(rng, text, first_line=_DOCUMENT_FIRST_RECORD_LINE[kind])
        file_defects = ["late_file"] * bool(late) + ["truncated_file"] * (delivery == "truncated_file")
        self._deliver(relative, day, late, first_text.encode("utf-8"), [], file_defects)
        if delivery is not None:
            extra = ["redelivered_file"] if delivery == "redelivered_file" else []
            self._deliver(f"{source}/{format_date(day)}/{redelivery_name(name)}", day, late + rng.randint(1, 3),
                          text.encode("utf-8"), [], extra)
        return relative

    def _deliver(self, relative: str, day: int, days_late: int, data: bytes,
                 line_defects: list[tuple[int, str]], file_defects: list[str]) -> None:
        self._write(relative, data)
        self.truth.delivery(relative, day, day + days_late)
        for line, defect in sorted(line_defects):
            self.truth.defect(relative, line, defect)
        for defect in file_defects:
            self.truth.defect(relative, None, defect)
