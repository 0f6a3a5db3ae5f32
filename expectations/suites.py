"""The expectation suites, as plain data: one ``Suite`` per table, registered in ``SUITES``.

An expectation is a Great Expectations class name (``great_expectations.expectations``) with its
keyword arguments, so this module imports nothing from GX and DAG files can read it cheaply.
Adding a suite is adding a ``Suite`` to ``SUITES``; ``expectations.validate`` runs it.

Raw tables: a blocking suite per table (schema, keys present, check characters, ranges) and a
warning suite (uniqueness per delivery, volume of each file against the feed's recent files).
Marts: every model dbt materialises as a table under ``models/marts/`` gets a blocking suite
(the exact column set, grain keys and not-null / accepted-values columns taken from the model's
yml docs, hard invariants and reconciliations with other marts and raw) and a warning suite
(volume against recent history, drift against the published table, soft ranges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from credit_dw.marts import MartModel, published_marts
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


def no_rows(query: str, description: str) -> Expectation:
    """``query`` (SQL on ``{batch}``, the rows validated) returns no row.

    GX substitutes ``{batch}`` by the table's name, or by the filtered rows as a subquery it
    aliases itself unless the query contains a JOIN: so only queries with a JOIN alias ``{batch}``
    (``from {batch} as exposure join ...``); the others name its columns unqualified."""
    return ("UnexpectedRowsExpectation", {"unexpected_rows_query": query, "description": description})


def check_characters(column: str, sql_function: str) -> Expectation:
    """Every value passes a check-character function the gate installs in the warehouse."""
    return no_rows(
        f"select * from {{batch}} where {column} is not null and not dq.{sql_function}({column})",
        f"{column} carries a valid check character",
    )


# --- volume against recent history --------------------------------------------------------------
# A table or file far below its recent median points at a truncated extract, a failed join or a
# filter gone wrong. Medians under VOLUME_MIN_MEDIAN_ROWS say too little (a day's handful of
# invoices halves by chance); no history yet (first load, first publication) passes.
VOLUME_MIN_SHARE_OF_MEDIAN = 0.5
VOLUME_MIN_MEDIAN_ROWS = 20
RECENT_PUBLICATIONS = 7  # ... of the marts (ops.publications), or business dates of a dated mart
RECENT_LOADS = 10  # files of the same feed (raw.load_manifest)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def history_value(query: str) -> str:
    """SQL for the number a query on history returns; null while there is none (the relation or
    column it reads does not exist yet: the first publication, a column added today)."""
    return f"dq.history_value({_sql_string(query)})"


def _volume_below_recent_median(row_count: str, recent_median: str, history: str) -> Expectation:
    return no_rows(
        f"select * from (select {row_count} as row_count, {recent_median} as recent_median) as volume "
        f"where recent_median >= {VOLUME_MIN_MEDIAN_ROWS} "
        f"and row_count < {VOLUME_MIN_SHARE_OF_MEDIAN} * recent_median",
        f"row count at least {VOLUME_MIN_SHARE_OF_MEDIAN:.0%} of the median of {history}",
    )


def volume_against_publications(table: str) -> Expectation:
    """The table's rows against its rows in the last publications (``ops.publications``)."""
    recent = history_value(
        f"select percentile_cont(0.5) within group (order by row_count) from ("
        f"select (tables ->> '{table}')::bigint as row_count from ops.publications "
        f"where tables ->> '{table}' is not null order by published_at desc limit {RECENT_PUBLICATIONS}"
        f") as recent"
    )
    return _volume_below_recent_median(
        "(select count(*) from {batch})", recent, f"the last {RECENT_PUBLICATIONS} publications")


def volume_against_recent_dates(table: str) -> Expectation:
    """A dated mart's rows of the date validated against its rows on its latest other dates (the
    table keeps them: it is incremental by date)."""
    recent = (
        f"(select percentile_cont(0.5) within group (order by rows_on_date) from ("
        f"select count(*) as rows_on_date from {table} where as_of_date not in (select as_of_date from {{batch}}) "
        f"group by as_of_date order by as_of_date desc limit {RECENT_PUBLICATIONS}) as recent)"
    )
    return _volume_below_recent_median(
        "(select count(*) from {batch})", recent, f"the table's last {RECENT_PUBLICATIONS} other dates")


def volume_against_recent_loads() -> Expectation:
    """Each file's rows (per load batch) against the feed's last files (``raw.load_manifest``).
    A file that loaded no row at all has no row here to compare: its manifest entry shows it."""
    return no_rows(
        "select loads.batch_id, manifest.feed, loads.row_count, history.recent_median "
        "from (select _batch_id as batch_id, count(*) as row_count from {batch} as validated group by _batch_id) "
        "as loads "
        f"join {RAW_SCHEMA}.load_manifest as manifest on manifest.batch_id = loads.batch_id "
        "cross join lateral ("
        "select percentile_cont(0.5) within group (order by earlier.rows_loaded) as recent_median from ("
        f"select rows_loaded from {RAW_SCHEMA}.load_manifest as previous "
        "where previous.feed = manifest.feed and previous.status = 'loaded' and previous.batch_id < manifest.batch_id "
        f"order by previous.batch_id desc limit {RECENT_LOADS}) as earlier) as history "
        f"where history.recent_median >= {VOLUME_MIN_MEDIAN_ROWS} "
        f"and loads.row_count < {VOLUME_MIN_SHARE_OF_MEDIAN} * history.recent_median",
        f"rows of each file at least {VOLUME_MIN_SHARE_OF_MEDIAN:.0%} of the median of the feed's "
        f"last {RECENT_LOADS} files",
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
    (uniqueness within a delivery: raw keeps duplicate rows as delivered, staging removes them;
    each file's volume against the feed's recent files)."""
    blocking = Suite(
        name=f"raw_{feed.table_name}", schema=RAW_SCHEMA, table=feed.table_name, blocking=True,
        expectations=tuple(_blocking_expectations(feed)),
    )
    warning = Suite(
        name=f"raw_{feed.table_name}_warnings", schema=RAW_SCHEMA, table=feed.table_name, blocking=False,
        expectations=(
            ("ExpectCompoundColumnsToBeUnique", {"column_list": [*feed.key, "_batch_id"]}),
            volume_against_recent_loads(),
        ),
    )
    return blocking, warning


def _raw_suite_registry() -> dict[str, Suite]:
    suites: dict[str, Suite] = {}
    for feeds in raw_tables().values():
        for suite in raw_suites(feeds[0]):
            suites[suite.name] = suite
    return suites


# --- marts ------------------------------------------------------------------------------------
# The suites name the published schema; the nightly validates the build schema in its place
# (credit_dw.pipeline.publish_stage). Queries name other marts unqualified, so they read the schema
# validated (the connection's search_path); MARTS_SCHEMA is written out where yesterday's
# published table is the reference (drift).
MARTS_SCHEMA = "marts"
# Marts that keep rows per business date (incremental by date, or month-ends and the latest date):
# the nightly checks the date it built (as_of_date = D), the other dates are history.
PER_BUSINESS_DATE = frozenset({
    "fct_credit_exposure_daily", "fct_ar_open_items_snapshots", "portfolio_aging_by_segment",
    "portfolio_dso_cei_trend",
})
# Marts whose row count may legitimately drop to nothing (stewards empty the queue) or that hold
# one row per date: no volume check.
NO_VOLUME_CHECK = frozenset({"customer_match_review_queue", "portfolio_dso_cei_trend"})


def documented_expectations(model: MartModel) -> list[Expectation]:
    """Schema and grain from the model's docs: exact column set, keys unique and present,
    documented not-null and accepted values."""
    expectations: list[Expectation] = []
    if model.columns:
        expectations.append(("ExpectTableColumnsToMatchSet", {"column_set": list(model.columns), "exact_match": True}))
    key_columns: list[str] = []
    for key in model.keys:
        if len(key) == 1:
            expectations.append(("ExpectColumnValuesToBeUnique", {"column": key[0]}))
        else:
            expectations.append(("ExpectCompoundColumnsToBeUnique", {"column_list": list(key)}))
        key_columns += [column for column in key if column not in key_columns]
    expectations += not_null(*key_columns, *(c for c in model.not_null if c not in key_columns))
    expectations += [
        ("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)})
        for column, values in model.accepted_values
    ]
    return expectations


def drift_from_published(
    table: str, measure: str, *, max_change: float, description: str, relative: bool = False,
) -> Expectation:
    """``measure`` (an aggregate) on the rows validated against the published table (yesterday's
    publication; its latest date for a dated mart): more than ``max_change`` apart (a factor when
    ``relative``) is drift. Nothing published yet passes."""
    published = f"{MARTS_SCHEMA}.{table}"
    if table in PER_BUSINESS_DATE:
        published += f" where as_of_date = (select max(as_of_date) from {MARTS_SCHEMA}.{table})"
    condition = (
        f"published <> 0 and (today / published > {max_change} or today / published < {1 / max_change})"
        if relative else f"abs(today - published) > {max_change}"
    )
    return no_rows(
        f"select * from (select (select {measure} from {{batch}}) as today, "
        f"{history_value(f'select {measure} from {published}')} as published) as drift where {condition}",
        description,
    )


SHARE = "avg(case when {} then 1.0 else 0.0 end)"

# Hard invariants and reconciliations: never published wrong (blocking).
MART_RULES: dict[str, tuple[Expectation, ...]] = {
    "fct_credit_exposure_daily": (
        ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *currency_code("currency"),
        ("ExpectColumnValuesToBeBetween", {"column": "open_receivables", "min_value": 0}),
        no_rows(
            "select * from {batch} where headroom <> credit_limit - exposure "
            "or is_over_limit <> (exposure > credit_limit)",
            "headroom and the over-limit flag agree with exposure and limit",
        ),
        no_rows(
            "select exposure.as_of_date, exposure.customer_id from {batch} as exposure "
            "left join (select as_of_date, customer_id, currency, count(*) as open_invoice_count, "
            "sum(open_amount) as open_amount from fct_ar_open_items_snapshots "
            "group by as_of_date, customer_id, currency) as items "
            "on items.as_of_date = exposure.as_of_date and items.customer_id = exposure.customer_id "
            "where exposure.as_of_date in (select as_of_date from fct_ar_open_items_snapshots) "
            "group by exposure.as_of_date, exposure.customer_id, exposure.currency, exposure.open_invoice_count, "
            "exposure.open_receivables "
            "having exposure.open_invoice_count <> coalesce(sum(items.open_invoice_count), 0) "
            "or (bool_and(items.currency is null or items.currency = exposure.currency) "
            "and exposure.open_receivables <> coalesce(sum(items.open_amount), 0))",
            "open invoices and receivables reconcile to the open-items snapshot of the date",
        ),
    ),
    "fct_ar_open_items_snapshots": (
        ("ExpectColumnValuesToBeBetween", {"column": "open_amount", "min_value": 0, "strict_min": True}),
        no_rows("select * from {batch} where known_on_date <> as_of_date",
                "a snapshot is as known on its date"),
    ),
    "fct_invoices": (
        no_rows(
            "select * from {batch} where is_open <> (open_amount > 0) or open_amount <> "
            "greatest(invoice_amount - paid_amount - credited_amount - written_off_amount, 0)",
            "open amount = invoice - paid - credited - written off (floored at zero); open when above zero",
        ),
        no_rows(
            "select coalesce(invoices.invoice_id, items.invoice_id) as invoice_id, "
            "invoices.open_amount as invoice_open_amount, items.open_amount as snapshot_open_amount "
            "from (select invoice_id, open_amount from {batch} as all_invoices where is_open) as invoices "
            "full join (select invoice_id, open_amount from fct_ar_open_items_snapshots "
            "where as_of_date = (select max(as_of_date) from {batch} as dated)) as items "
            "on items.invoice_id = invoices.invoice_id "
            "where invoices.open_amount is distinct from items.open_amount",
            "open invoices and amounts reconcile to the open-items snapshot of the as-of date",
        ),
        no_rows(
            f"select invoices.invoice_id from {{batch}} as invoices "
            f"left join {RAW_SCHEMA}.erp_invoices as delivered on delivered.invoice_id = invoices.invoice_id "
            "and delivered.customer_id = invoices.customer_id and delivered.amount = invoices.invoice_amount "
            "where delivered.invoice_id is null",
            "every invoice is one the ERP delivered (id, customer, amount in raw)",
        ),
    ),
    "fct_payments": (
        no_rows("select * from {batch} where is_unapplied <> (invoice_id is null)",
                "the unapplied remainder, and only it, has no invoice"),
    ),
    "fct_bank_receipts": (
        no_rows(
            "select * from {batch} where receipt_amount <> applied_amount + unapplied_amount "
            "or is_fully_applied <> (unapplied_amount = 0)",
            "receipt = applied + unapplied; fully applied when nothing is left",
        ),
    ),
    "fct_credit_limit_changes": (
        no_rows("select * from {batch} where limit_change_amount is distinct from credit_limit - previous_limit",
                "change amount = new limit - previous limit"),
        no_rows("select customer_id from {batch} where is_current group by customer_id having count(*) > 1",
                "one limit in force per customer"),
    ),
    "customer_credit_profile": (
        # the latest profile: the as-of date's only
        ("ExpectColumnUniqueValueCountToBeBetween", {"column": "as_of_date", "max_value": 1}),
        no_rows(
            "select profiles.customer_id from {batch} as profiles join fct_credit_exposure_daily as exposure "
            "on exposure.as_of_date = profiles.as_of_date and exposure.customer_id = profiles.customer_id "
            "where profiles.credit_limit is distinct from exposure.credit_limit "
            "or profiles.credit_limit_currency is distinct from exposure.currency",
            "the credit limit is the one in fct_credit_exposure_daily",
        ),
    ),
    "dim_customers": (
        check_characters("uscc", "is_valid_uscc"),
        no_rows(
            "select customers.customer_id from {batch} as customers left join ("
            "select customer_id, count(*) filter (where source_system = 'erp') as erp, "
            "count(*) filter (where source_system = 'crm') as crm, "
            "count(*) filter (where source_system = 'bureau') as bureau, "
            "count(*) filter (where source_system = 'bank') as bank "
            "from customer_source_xref group by customer_id) as sources on sources.customer_id = customers.customer_id "
            "where sources.customer_id is null or customers.erp_record_count is distinct from sources.erp "
            "or customers.crm_record_count is distinct from sources.crm "
            "or customers.bureau_record_count is distinct from sources.bureau "
            "or customers.bank_entry_count is distinct from sources.bank",
            "every customer's source records reconcile to customer_source_xref",
        ),
    ),
    "customer_source_xref": (
        ("ExpectColumnValuesToBeBetween", {"column": "match_probability", "min_value": 0, "max_value": 1}),
        no_rows("select * from {batch} where customer_id is null "
                "and (source_system <> 'bank' or match_method <> 'unmatched')",
                "only unmatched bank entries have no customer"),
        no_rows(
            "select links.source_system, links.source_record_id from {batch} as links "
            "left join dim_customers as customers on customers.customer_id = links.customer_id "
            "where links.customer_id is not null and customers.customer_id is null",
            "every linked customer is in dim_customers",
        ),
    ),
    "customer_match_review_queue": (
        ("ExpectColumnValuesToBeBetween", {"column": "match_probability", "min_value": 0, "max_value": 1}),
    ),
    "portfolio_aging_by_segment": (
        ("ExpectColumnValuesToBeBetween", {"column": "open_amount", "min_value": 0}),
        no_rows(
            "select as_of_date, segment from {batch} group by as_of_date, segment "
            "having abs(sum(share_of_segment_open_amount) - 1) > 0.001",
            "a segment's bucket shares add up to one (four-decimal rounding aside)",
        ),
    ),
    "portfolio_invoice_vintages": tuple(
        ("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "max_value": 1})
        for column in ("cumulative_share_90_dpd_count", "cumulative_share_90_dpd_amount")
    ),
}

# What could also happen on legitimate data: reported, never blocking.
MART_WARNINGS: dict[str, tuple[Expectation, ...]] = {
    "fct_credit_exposure_daily": (
        # A portfolio where most customers are over their limit points at a broken limit feed.
        ("ExpectColumnMeanToBeBetween", {"column": "utilisation", "min_value": 0, "max_value": 1.5}),
        drift_from_published("fct_credit_exposure_daily", SHARE.format("is_over_limit"), max_change=0.25,
                             description="share of customers over their limit within 25 points of yesterday's"),
        drift_from_published("fct_credit_exposure_daily", "avg(exposure)", max_change=2, relative=True,
                             description="mean exposure within a factor 2 of yesterday's"),
    ),
    "fct_ar_open_items_snapshots": (
        drift_from_published("fct_ar_open_items_snapshots", "avg(open_amount)", max_change=2, relative=True,
                             description="mean open amount within a factor 2 of yesterday's snapshot"),
    ),
    "fct_invoices": (
        drift_from_published("fct_invoices", "avg(invoice_amount)", max_change=2, relative=True,
                             description="mean invoice amount within a factor 2 of yesterday's"),
        # Differs legitimately when a past date is rebuilt: invoices loaded later are not known on it.
        no_rows(
            "select * from (select (select count(*) from {batch}) as invoices, "
            f"(select count(distinct invoice_id) from {RAW_SCHEMA}.erp_invoices "
            "where invoice_date <= (select max(as_of_date) from {batch})) as delivered) as counts "
            "where invoices <> delivered",
            "one invoice per distinct invoice the ERP delivered, dated on or before the as-of date",
        ),
    ),
    "fct_bank_receipts": (
        drift_from_published("fct_bank_receipts", SHARE.format("match_method = 'unmatched'"), max_change=0.25,
                             description="share of unmatched receipts within 25 points of yesterday's"),
    ),
    "customer_source_xref": (
        drift_from_published(
            "customer_source_xref", SHARE.format("match_method in ('probabilistic', 'unmatched')"),
            max_change=0.25,
            description="share of probabilistic or unmatched links within 25 points of yesterday's"),
    ),
    "customer_credit_profile": (
        drift_from_published("customer_credit_profile", SHARE.format("is_in_default"), max_change=0.2,
                             description="share of customers in default within 20 points of yesterday's"),
        ("ExpectColumnValuesToBeBetween", {"column": "share_paid_late_12m", "min_value": 0, "max_value": 1}),
    ),
    "portfolio_aging_by_segment": (
        drift_from_published(
            "portfolio_aging_by_segment",
            "sum(open_amount) filter (where aging_bucket_order >= 1) / nullif(sum(open_amount), 0)",
            max_change=0.25, description="overdue share of open AR within 25 points of yesterday's"),
    ),
    "portfolio_roll_rates": (
        # A bucket's balance over the previous bucket's a month before: no upper bound, since the
        # buckets from 91 days on hold several months' inflow (91-180 over 61-90 is 2-8 on the sandbox).
        ("ExpectColumnValuesToBeBetween", {"column": "roll_rate", "min_value": 0}),
    ),
}


def mart_suites(model: MartModel) -> tuple[Suite, ...]:
    """The blocking suite of a published mart, and its warning suite."""
    per_date = model.name in PER_BUSINESS_DATE
    blocking = Suite(
        name=f"{MARTS_SCHEMA}_{model.name}", schema=MARTS_SCHEMA, table=model.name, blocking=True,
        per_business_date=per_date,
        expectations=(*documented_expectations(model), *MART_RULES.get(model.name, ())),
    )
    volume = () if model.name in NO_VOLUME_CHECK else (
        volume_against_recent_dates(model.name) if per_date else volume_against_publications(model.name),)
    warnings = (*volume, *MART_WARNINGS.get(model.name, ()))
    if not warnings:
        return (blocking,)
    return blocking, Suite(
        name=f"{MARTS_SCHEMA}_{model.name}_warnings", schema=MARTS_SCHEMA, table=model.name, blocking=False,
        per_business_date=per_date, expectations=warnings,
    )


MART_SUITES = tuple(suite for model in published_marts() for suite in mart_suites(model))


SUITES: dict[str, Suite] = {**_raw_suite_registry(), **{suite.name: suite for suite in MART_SUITES}}
