"""The catalogue of source feeds: which landing files belong to which raw table, in which format,
with which columns and types.

A feed is recognised by its source folder and file-name pattern. Columns are the raw table's
business columns; every raw table also carries the lineage columns in ``LINEAGE_COLUMNS``.
Adding a feed is adding an entry here (and a reader in ``readers.py`` for a new format).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

RAW_SCHEMA = "raw"

# Postgres types of the lineage columns every raw table carries.
LINEAGE_COLUMNS = {
    "_batch_id": "bigint not null",
    "_source_file": "text not null",
    "_source_line": "integer not null",
    "_loaded_at": "timestamptz not null",
}

# Column types the validator knows; the value is the Postgres type of the raw column.
COLUMN_TYPES = {
    "text": "text",
    "date": "date",
    "amount": "numeric(18,2)",
    "integer": "integer",
    "boolean": "boolean",
    "currency": "char(3)",
    "uscc": "char(18)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"
    required: bool = True

    @property
    def pg_type(self) -> str:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class Feed:
    name: str  # also the raw table's name
    source: str  # landing folder: erp, crm, bank, bureau
    pattern: str  # file-name glob inside landing/<source>/<business date>/
    format: str  # csv, camt053, jsonl
    columns: tuple[Column, ...]

    @property
    def table(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    def matches(self, source: str, file_name: str) -> bool:
        return source == self.source and fnmatch.fnmatch(file_name.lower(), self.pattern)


FEEDS: tuple[Feed, ...] = (
    Feed("erp_customers", "erp", "customers_*.csv", "csv", (
        Column("customer_id"),
        Column("customer_name"),
        Column("uscc", "uscc", required=False),
        Column("payment_terms"),
        Column("credit_limit", "amount"),
        Column("currency", "currency"),
    )),
    Feed("erp_invoices", "erp", "invoices_*.csv", "csv", (
        Column("invoice_id"),
        Column("customer_id"),
        Column("invoice_date", "date"),
        Column("due_date", "date"),
        Column("currency", "currency"),
        Column("amount", "amount"),
    )),
    Feed("erp_payments", "erp", "payments_*.csv", "csv", (
        Column("payment_id"),
        Column("invoice_id"),
        Column("customer_id"),
        Column("payment_date", "date"),
        Column("currency", "currency"),
        Column("amount", "amount"),
    )),
    Feed("crm_accounts", "crm", "accounts_*.csv", "csv", (
        Column("account_id"),
        Column("account_name"),
        Column("uscc", "uscc", required=False),
        Column("owner_id", required=False),
    )),
    Feed("bank_statement_entries", "bank", "camt053_*.xml", "camt053", (
        Column("statement_id"),
        Column("account_id"),
        Column("entry_reference"),
        Column("booking_date", "date"),
        Column("value_date", "date", required=False),
        Column("credit_debit"),
        Column("amount", "amount"),
        Column("currency", "currency"),
        Column("end_to_end_id", required=False),
        Column("payer_name", required=False),
        Column("remittance_information", required=False),
    )),
    Feed("bureau_company_reports", "bureau", "company_reports_*.jsonl", "jsonl", (
        Column("uscc", "uscc"),
        Column("company_name"),
        Column("report_date", "date"),
        Column("registration_status"),
        Column("registered_capital", "amount", required=False),
        Column("litigation_count", "integer", required=False),
        Column("is_dishonest_debtor", "boolean", required=False),
        Column("bureau_score", "integer", required=False),
    )),
)


def feed_for(source: str, file_name: str) -> Feed | None:
    return next((feed for feed in FEEDS if feed.matches(source, file_name)), None)


def feed_named(name: str) -> Feed:
    for feed in FEEDS:
        if feed.name == name:
            return feed
    raise KeyError(name)
