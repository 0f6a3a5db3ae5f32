"""The expectation suites, as plain data: one ``Suite`` per table, registered in ``SUITES``.

An expectation is a Great Expectations class name (``great_expectations.expectations``) with its
keyword arguments, so this module imports nothing from GX and DAG files can read it cheaply.
Adding a suite is adding a ``Suite`` to ``SUITES``; ``expectations.validate`` runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingestion.feeds import LINEAGE_COLUMNS
from ingestion.validation import ISO_4217

# (class name in great_expectations.expectations, keyword arguments)
Expectation = tuple[str, dict[str, Any]]

# Schema and table names reach SQL unquoted (GX's table asset, the connection's search_path).
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

@dataclass(frozen=True)
class Suite:
    name: str
    schema: str
    table: str
    # A failed blocking suite stops the pipeline (see validate.assert_passed); others only report.
    blocking: bool
    expectations: tuple[Expectation, ...]

    def __post_init__(self) -> None:
        for identifier in (self.schema, self.table):
            if not _PLAIN_IDENTIFIER.fullmatch(identifier):
                raise ValueError(f"suite {self.name}: {identifier!r} is not a plain identifier")

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"


def raw_columns(*business_columns: str) -> Expectation:
    """The exact column set of a raw table: its business columns plus the loader's lineage."""
    return (
        "ExpectTableColumnsToMatchSet",
        {"column_set": [*business_columns, *LINEAGE_COLUMNS], "exact_match": True},
    )


def not_null(*columns: str) -> tuple[Expectation, ...]:
    return tuple(("ExpectColumnValuesToNotBeNull", {"column": column}) for column in columns)


def currency_code(column: str) -> tuple[Expectation, ...]:
    return (
        ("ExpectColumnValuesToMatchRegex", {"column": column, "regex": "^[A-Z]{3}$"}),
        ("ExpectColumnValuesToBeInSet", {"column": column, "value_set": sorted(ISO_4217)}),
    )


ERP_INVOICES = Suite(
    name="raw_erp_invoices",
    schema="raw",
    table="erp_invoices",
    blocking=True,
    expectations=(
        raw_columns("invoice_id", "customer_id", "invoice_date", "due_date", "currency", "amount"),
        *not_null(
            "invoice_id", "customer_id", "invoice_date", "due_date", "currency", "amount",
            "_batch_id",
        ),
        # Raw keeps every delivery and staging takes an invoice's latest one, so an invoice may
        # recur across deliveries but not within one.
        ("ExpectCompoundColumnsToBeUnique", {"column_list": ["invoice_id", "_batch_id"]}),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "due_date", "column_B": "invoice_date", "or_equal": True},
        ),
        ("ExpectColumnValuesToBeBetween", {"column": "amount", "min_value": 0, "max_value": 1e12}),
        *currency_code("currency"),
        ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
    ),
)

SUITES: dict[str, Suite] = {suite.name: suite for suite in (ERP_INVOICES,)}
