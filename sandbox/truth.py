"""Ground truth: what the pipeline is never shown and evaluations compare against.

Streamed as the simulation goes (one row per delivered file, defect, bank entry, first sighting of
a customer-like record), so that even the large scale runs in bounded memory.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from sandbox.population import Population
from sandbox.records import Statement
from sandbox.writers.tabular import money

_STREAMS = {
    "entities": ("source_system", "source_record_id", "true_customer_id"),
    "defects": ("file", "line", "defect"),
    "deliveries": ("file", "business_date", "arrival_date"),
    "bank_entries": ("file", "account_id", "entry_reference", "credit_debit", "amount", "currency", "kind",
                     "true_customer_id", "invoice_ids"),
}


def _iso(day: int | None) -> str:
    return date.fromordinal(day).isoformat() if day is not None else ""


class GroundTruth:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._handles = {name: (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") for name in _STREAMS}
        self._writers = {name: csv.writer(handle, lineterminator="\n") for name, handle in self._handles.items()}
        for name, header in _STREAMS.items():
            self._writers[name].writerow(header)
        # ERP, CRM and bureau records already written (membership only: never iterated, so no order leaks)
        self._seen: set[tuple[str, str]] = set()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()

    def entity(self, system: str, record_id: str, true_id: str) -> None:
        """A customer-like record, written the first time it is delivered."""
        key = (system, record_id)
        if key not in self._seen:
            self._seen.add(key)
            self._writers["entities"].writerow(key + (true_id,))

    def defect(self, file: str, line: int | None, defect: str) -> None:
        self._writers["defects"].writerow((file, "" if line is None else line, defect))

    def delivery(self, file: str, business_day: int, arrival_day: int) -> None:
        self._writers["deliveries"].writerow((file, _iso(business_day), _iso(arrival_day)))

    def statement(self, file: str, statement: Statement) -> None:
        """Every entry of a statement; customer payments also as a bank entity (payer per entry)."""
        account = statement.account
        rows = self._writers["bank_entries"]
        for entry in statement.entries:
            payer = entry.customer.company.true_id if entry.customer else ""
            rows.writerow((file, account.account_id, entry.reference, "CRDT" if entry.is_credit else "DBIT",
                           money(entry.amount), account.currency, entry.kind, payer, " ".join(entry.invoice_ids)))
            if entry.customer is not None:  # entry references are unique: no need to remember them
                self._writers["entities"].writerow(("bank", f"{account.account_id}:{entry.reference}", payer))

    def population(self, population: Population, end: int) -> None:
        """customers.csv (every true company, with its hidden quality) and defaults.csv."""
        with (self.folder / "customers.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("true_customer_id", "erp_customer_id", "legal_name", "uscc", "country", "is_foreign",
                             "segment", "quality", "group_parent_id", "created_date", "bureau_subject_id"))
            for c in population.customers:
                company = c.company
                writer.writerow((company.true_id, c.erp_id, company.legal_name, company.uscc or "", company.country,
                                 str(company.is_foreign).lower(), c.segment, f"{c.quality:.4f}",
                                 c.parent.company.true_id if c.parent else "", _iso(c.created),
                                 company.subject_id or ""))
            for company in population.prospects:
                writer.writerow((company.true_id, "", company.legal_name, company.uscc or "", company.country,
                                 str(company.is_foreign).lower(), "prospect", "", "", "", ""))
        with (self.folder / "defaults.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("true_customer_id", "default_date", "write_off_date"))
            for c in population.customers:
                if c.default_day is not None and c.default_day <= end:
                    write_off = c.write_off_day if c.write_off_day is not None and c.write_off_day <= end else None
                    writer.writerow((c.company.true_id, _iso(c.default_day), _iso(write_off)))
