"""The expectation suites, as plain data: one ``Suite`` per table, registered in ``SUITES``.

An expectation is a Great Expectations class name (``great_expectations.expectations``) with its
keyword arguments, so this module imports nothing from GX and DAG files can read it cheaply.
Adding a suite is adding a ``Suite`` to ``SUITES``; ``expectations.validate`` runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingestion.feeds import LINEAGE_COLUMNS, RAW_SCHEMA, Feed, raw_tables
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
    # Marts that hold one partition per business date are checked on that date's rows only.
    per_business_date: bool = False

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


def check_characters(column: str, sql_function: str) -> Expectation:
    """Every value passes a check-character function the gate installs in the warehouse."""
    return (
        "UnexpectedRowsExpectation",
        {
            "unexpected_rows_query": f"select * from {{batch}} where {column} is not null "
            f"and not dq.{sql_function}({column})",
            "description": f"{column} carries a valid check character",
        },
    )


def _blocking_expectations(feed: Feed) -> list[Expectation]:
    stored = [name for column in feed.columns for name, _ in column.stored_columns]
    expectations = [raw_columns(*stored), *not_null(*(c.name for c in feed.columns if c.required and not c.pii))]
    for column in feed.columns:
        if column.type == "currency":
            expectations += currency_code(column.name)
        elif column.type == "uscc":
            expectations.append(check_characters(column.name, "is_valid_uscc"))
        elif column.type == "amount" and column.name not in {"previous_limit"}:
            expectations.append(
                ("ExpectColumnValuesToBeBetween", {"column": column.name, "min_value": 0, "max_value": 1e13})
            )
        elif column.type == "date":
            expectations.append(
                ("ExpectColumnValuesToBeBetween", {"column": column.name, "min_value": "1949-10-01",
                                                   "max_value": "2099-12-31"})
            )
    return expectations + list(TABLE_RULES.get(feed.table_name, ()))


# Rules a table's business meaning adds to what its column types imply.
TABLE_RULES: dict[str, tuple[Expectation, ...]] = {
    "erp_invoices": (
        ("ExpectColumnPairValuesAToBeGreaterThanB",
         {"column_A": "due_date", "column_B": "invoice_date", "or_equal": True}),
    ),
    "bank_statement_entries": (
        ("ExpectColumnValuesToBeInSet", {"column": "credit_debit", "value_set": ["CRDT", "DBIT"]}),
    ),
}


def raw_suites(feed: Feed) -> tuple[Suite, Suite]:
    """A blocking suite (schema, keys present, check characters, ranges) and a warning suite
    (uniqueness within a delivery: raw keeps duplicate rows as delivered; staging removes them)."""
    blocking = Suite(
        name=f"raw_{feed.table_name}", schema=RAW_SCHEMA, table=feed.table_name, blocking=True,
        expectations=tuple(_blocking_expectations(feed)),
    )
    warning = Suite(
        name=f"raw_{feed.table_name}_warnings", schema=RAW_SCHEMA, table=feed.table_name, blocking=False,
        expectations=(("ExpectCompoundColumnsToBeUnique", {"column_list": [*feed.key, "_batch_id"]}),),
    )
    return blocking, warning


def _raw_suite_registry() -> dict[str, Suite]:
    suites: dict[str, Suite] = {}
    for feeds in raw_tables().values():
        for suite in raw_suites(feeds[0]):
            suites[suite.name] = suite
    return suites


MART_SUITES = (
    Suite(
        name="marts_fct_credit_exposure_daily", schema="marts", table="fct_credit_exposure_daily", blocking=True,
        per_business_date=True,
        expectations=(
            ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            ("ExpectCompoundColumnsToBeUnique", {"column_list": ["as_of_date", "customer_id"]}),
            *not_null("customer_id", "currency", "open_receivables", "exposure", "credit_limit"),
            *currency_code("currency"),
            ("ExpectColumnValuesToBeBetween", {"column": "open_receivables", "min_value": 0}),
            (
                "UnexpectedRowsExpectation",
                {
                    "unexpected_rows_query": "select * from {batch} where headroom <> credit_limit - exposure "
                    "or is_over_limit <> (exposure > credit_limit)",
                    "description": "headroom and the over-limit flag agree with exposure and limit",
                },
            ),
        ),
    ),
    Suite(
        name="marts_fct_credit_exposure_daily_warnings", schema="marts", table="fct_credit_exposure_daily",
        blocking=False, per_business_date=True,
        expectations=(
            # A portfolio where most customers are over their limit points at a broken limit feed.
            ("ExpectColumnMeanToBeBetween", {"column": "utilisation", "min_value": 0, "max_value": 1.5}),
        ),
    ),
)


SUITES: dict[str, Suite] = {**_raw_suite_registry(), **{suite.name: suite for suite in MART_SUITES}}
