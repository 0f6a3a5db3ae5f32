"""Validate a table against its suite with Great Expectations, record the outcome in
``dq.validation_results`` and stop the pipeline when a blocking suite failed.

Great Expectations is imported only when a validation runs: it takes seconds to import and DAG
files import this module. Each validation runs in an ephemeral GX context (in-memory stores, no
data docs), so nothing is written to disk; ``expectations.stewards`` builds the Data Docs of a run
from the results stored here.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from credit_dw import warehouse
from expectations.suites import Suite

if TYPE_CHECKING:
    from great_expectations.data_context import EphemeralDataContext
    from great_expectations.datasource.fluent import SQLDatasource

# Functions the suites call: check characters (GB 32100 for the Unified Social Credit Code), history.
FUNCTIONS_DDL = """
create schema if not exists dq;
create or replace function dq.is_valid_uscc(code text) returns boolean
language sql immutable strict parallel safe as $$
    with alphabet as (select '0123456789ABCDEFGHJKLMNPQRTUWXY'::text as chars),
    weighted as (
        select sum((strpos(alphabet.chars, substr(code, position::int, 1)) - 1) * weight) as total
        from alphabet,
             unnest(array[1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
                 with ordinality as weights (weight, position)
    )
    select code ~ '^[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}$'
       and substr(code, 18, 1) = substr(
           (select chars from alphabet), ((31 - (total::int % 31)) % 31) + 1, 1)
    from weighted
$$;
-- A number from history for the volume and drift checks (expectations.suites.history_value):
-- null, "no history yet", while the relation or column the query reads does not exist (no
-- publication yet; a column the published table does not have yet).
create or replace function dq.history_value(query text) returns numeric
language plpgsql stable as $$
declare
    result numeric;
begin
    execute query into result;
    return result;
exception when undefined_table or undefined_column then
    return null;
end
$$;
"""

RESULTS_DDL = """
create schema if not exists dq;
create table if not exists dq.validation_results (
    id bigserial primary key,
    run_id text not null,
    suite_name text not null,
    table_name text not null,
    blocking boolean not null,
    success boolean not null,
    evaluated integer not null,
    failed integer not null,
    failures jsonb not null,
    result jsonb not null,
    validated_at timestamptz not null default now()
);
"""

# SUMMARY carries unexpected counts and a few distinct examples; COMPLETE would pull every
# failing row into the stored result.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 5}


class QualityGateFailed(Exception):
    """A blocking suite failed; the message names each one with its failed expectations."""


@dataclass(frozen=True)
class ValidationOutcome:
    suite_name: str
    table: str  # schema.table
    blocking: bool
    success: bool
    evaluated: int
    failed: int
    failures: list[str]
    run_id: str


def validate_table(
    database_url: str,
    suite: Suite,
    *,
    run_id: str,
    batch_ids: list[int] | None = None,
    row_filter: str | None = None,
) -> ValidationOutcome:
    """Run ``suite`` against its table and record the outcome under ``run_id``: the rows of the
    given load batches (what this run loaded), the rows ``row_filter`` (a SQL condition written by
    the pipeline, never by a user) selects, or the whole table.

    ``database_url`` is a libpq-style URL, over TCP or a Unix socket (``?host=/socket/dir``).
    """
    _install_functions(database_url)
    if batch_ids is not None:
        # ids are integers from the manifest, never user text
        row_filter = f"_batch_id in ({', '.join(str(int(batch_id)) for batch_id in batch_ids) or 'null'})"
    result = _run_suite(database_url, suite, run_id, row_filter)
    outcome = ValidationOutcome(
        suite_name=suite.name,
        table=suite.qualified_table,
        blocking=suite.blocking,
        success=result["success"],
        evaluated=result["statistics"]["evaluated_expectations"],
        failed=result["statistics"]["unsuccessful_expectations"],
        failures=[describe_failure(entry) for entry in result["results"] if not entry["success"]],
        run_id=run_id,
    )
    _record(database_url, outcome, result)
    return outcome


def assert_passed(outcomes: list[ValidationOutcome]) -> None:
    """Raise ``QualityGateFailed`` when a blocking suite failed; non-blocking failures pass."""
    failed = [outcome for outcome in outcomes if outcome.blocking and not outcome.success]
    if not failed:
        return
    sections = [
        f"{outcome.suite_name} on {outcome.table}: "
        f"{outcome.failed} of {outcome.evaluated} expectations failed"
        + "".join(f"\n  - {failure}" for failure in outcome.failures)
        for outcome in failed
    ]
    raise QualityGateFailed(
        f"{len(failed)} blocking data-quality suite(s) failed:\n" + "\n".join(sections)
    )


def describe_failure(result: dict[str, Any]) -> str:
    """One line for a failed expectation result (GX JSON form), e.g.
    ``expect_column_values_to_be_unique(invoice_id): 3 unexpected values, e.g. ['INV-1']``."""
    config = result["expectation_config"]
    arguments = config["kwargs"]
    columns = arguments.get("column_list") or [
        arguments[key] for key in ("column", "column_A", "column_B") if key in arguments
    ]
    label = f"{config['type']}({', '.join(columns)})" if columns else config["type"]
    if config.get("description"):
        label = f"{label} [{config['description']}]"

    errors = _exception_messages(result.get("exception_info") or {})
    if errors:
        return f"{label}: error: {'; '.join(errors)}"
    details = result.get("result") or {}
    if "unexpected_count" in details:
        count = details["unexpected_count"]
        # A null example says nothing the expectation's name does not (it is the not-null one).
        examples = [
            entry["value"]
            for entry in details.get("partial_unexpected_counts", [])
            if entry["value"] is not None
        ]
        summary = f"{label}: {count} unexpected value{'' if count == 1 else 's'}"
        return f"{summary}, e.g. {examples}" if examples else summary
    mismatched = details.get("details", {}).get("mismatched")
    if mismatched:
        parts = [f"{kind} {names}" for kind, names in mismatched.items() if names]
        return f"{label}: {', '.join(parts)}"
    observed = details.get("observed_value")
    if config["type"] == "unexpected_rows_expectation":
        return f"{label}: {observed} row{'' if observed == 1 else 's'} failed"
    return f"{label}: observed {observed!r}"


def _exception_messages(exception_info: dict[str, Any]) -> list[str]:
    # GX reports an expectation's own error flat, and errors of the metrics it needed as a dict
    # keyed by metric id (a missing column lands there).
    entries = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    return [entry["exception_message"] for entry in entries if entry.get("raised_exception")]


def _install_functions(database_url: str) -> None:
    with warehouse.connect(database_url) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('dq.functions'))")
        conn.execute(FUNCTIONS_DDL)


def _run_suite(database_url: str, suite: Suite, run_id: str, row_filter: str | None) -> dict[str, Any]:
    """The GX validation result, as GX's JSON dict, with results in the suite's order."""
    # GX 1.24 has no usage-statistics client left (``analytics_enabled`` below is all its config
    # still carries), but earlier 1.x releases read this variable at import.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    with warnings.catch_warnings():
        # GX suggests add_postgres, which rejects Unix-socket URLs; add_sql is deliberate here.
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        context = ephemeral_context()
        datasource = context.data_sources.add_sql(
            name=suite.name,
            connection_string=warehouse.sqlalchemy_url(database_url),
            # GX deprecated TableAsset.schema_name (1.14) for the connection's schema; for
            # PostgreSQL that is the search_path.
            kwargs={"connect_args": {"options": f"-c search_path={suite.schema}"}},
        )
        try:
            return _validate(context, datasource, suite, run_id, row_filter)
        finally:
            # The data source and its execution engine each hold a connection pool that GX only
            # closes on garbage collection; a long-lived Airflow worker would keep them open.
            datasource.get_execution_engine().close()
            datasource.get_engine().dispose()


def _validate(
    context: EphemeralDataContext,
    datasource: SQLDatasource,
    suite: Suite,
    run_id: str,
    row_filter: str | None,
) -> dict[str, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    if row_filter is None:
        asset = datasource.add_table_asset(name=suite.table, table_name=suite.table)
    else:
        asset = datasource.add_query_asset(
            name=suite.table, query=f"select * from {suite.qualified_table} where {row_filter}"
        )
    batch_definition = asset.add_batch_definition_whole_table("whole table")
    gx_suite = context.suites.add(
        gx.ExpectationSuite(
            name=suite.name,
            expectations=[
                getattr(gxe, class_name)(**arguments) for class_name, arguments in suite.expectations
            ],
        )
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    result = definition.run(
        result_format=RESULT_FORMAT, run_id=gx.RunIdentifier(run_name=run_id)
    ).to_json_dict()
    # GX returns results in metric-resolution order; the suite's order reads better.
    position = {expectation.id: index for index, expectation in enumerate(gx_suite.expectations)}
    result["results"].sort(key=lambda entry: position[entry["expectation_config"]["id"]])
    return result


def ephemeral_context(data_docs_sites: dict[str, Any] | None = None) -> EphemeralDataContext:
    """An in-memory GX context; Data Docs only to the sites given (``expectations.stewards``)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # The default ephemeral config points a data docs site at a temporary directory.
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        # Otherwise GX draws a tqdm bar on stderr per validation, noise in task logs.
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
        data_docs_sites=data_docs_sites or {},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _record(database_url: str, outcome: ValidationOutcome, result: dict[str, Any]) -> None:
    with warehouse.connect(database_url) as conn:
        # Validations running in parallel (one Airflow task per table) would otherwise race on
        # the first "create ... if not exists" and fail on a duplicate catalogue entry.
        conn.execute("select pg_advisory_xact_lock(hashtext('dq.validation_results'))")
        conn.execute(RESULTS_DDL)
        conn.execute(
            """insert into dq.validation_results
               (run_id, suite_name, table_name, blocking, success, evaluated, failed, failures,
                result)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                outcome.run_id,
                outcome.suite_name,
                outcome.table,
                outcome.blocking,
                outcome.success,
                outcome.evaluated,
                outcome.failed,
                Jsonb(outcome.failures),
                Jsonb(result),
            ),
        )
