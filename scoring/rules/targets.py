"""What rules may read: the rule targets, their allow-listed columns and the relations behind them.

A rule names a target; its condition may use that target's columns and nothing else. Every column
of the ``customer`` target comes from one documented mart (or scoring) column, named in
``Column.source``: the allow-list is written here, explicitly, and ``undocumented_columns`` checks it
against the marts' dbt YAML (a column the marts do not document, or tag as personal data, is a
finding). Personal data is never in an allow-list.

The ``customer`` relation has one row per customer and as-of date, built from
``marts.fct_credit_exposure_daily`` (the customer universe) joined to the customer profile history,
the PD scores and the credit team's flags, each "latest known on or before the as-of date". The
SQL below is fixed text written here; rule expressions only ever select from it.

Components are looked up in the catalogue before each evaluation: a mart that is not built yet (or a
column it does not have yet) makes its columns unavailable, and a rule that reads one is skipped
with that reason instead of failing the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from credit_dw.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "dbt_project" / "models"
SOURCE_SYSTEMS = ("erp", "bank", "bureau", "crm")


@dataclass(frozen=True)
class Component:
    """One relation the customer target joins, and the source systems its freshness depends on."""

    name: str
    schema: str
    table: str
    systems: tuple[str, ...]
    documented_in: str | None  # dbt model documenting its columns (None: a table this package owns)


@dataclass(frozen=True)
class Column:
    name: str  # the name rule authors write
    type: str  # numeric, integer, text, boolean
    component: str
    source: str  # the column in the component's relation
    description: str


COMPONENTS = {
    component.name: component
    for component in (
        Component("exposure", "marts", "fct_credit_exposure_daily", ("erp",), "fct_credit_exposure_daily"),
        # the latest profile (as-of date) and the month-end history: latest snapshot on or before the day
        Component("profile", "marts", "customer_credit_profile_history", ("erp", "bank", "bureau"),
                  "customer_credit_profile_history"),
        # bureau report flags and events mapped to ERP customers by USCC, as known on the day
        Component("bureau_reports", "intermediate", "int_bureau_reports_mapped_to_customers", ("bureau",),
                  "int_bureau_reports_mapped_to_customers"),
        Component("bureau_events", "intermediate", "int_bureau_events_mapped_to_customers", ("bureau",),
                  "int_bureau_events_mapped_to_customers"),
        Component("scores", "scoring", "customer_scores", ("erp", "bank", "bureau"), None),
        Component("scores_30d_ago", "scoring", "customer_scores", ("erp", "bank", "bureau"), None),
        Component("flags", "scoring", "customer_flags", (), None),
    )
}

CUSTOMER_COLUMNS: tuple[Column, ...] = (
    # marts.fct_credit_exposure_daily
    Column("currency", "text", "exposure", "currency", "ISO 4217 currency of the limit and the amounts."),
    Column("open_receivables", "numeric", "exposure", "open_receivables", "Open receivables on the as-of date."),
    Column("open_orders", "numeric", "exposure", "open_orders", "Open sales orders not yet invoiced."),
    Column("unapplied_cash", "numeric", "exposure", "unapplied_cash", "Payments not yet applied to invoices."),
    Column("exposure", "numeric", "exposure", "exposure", "Credit exposure (receivables + orders - cash)."),
    Column("credit_limit", "numeric", "exposure", "credit_limit", "Credit limit in force on the as-of date."),
    Column("utilisation", "numeric", "exposure", "utilisation", "exposure / credit_limit (null when limit 0)."),
    Column("headroom", "numeric", "exposure", "headroom", "credit_limit - exposure."),
    Column("is_over_limit", "boolean", "exposure", "is_over_limit", "Exposure above the credit limit."),
    # marts.customer_credit_profile (the as-of date) / _history (month-ends); amounts in CNY
    Column("max_dpd", "integer", "profile", "max_days_past_due", "Days past due of the oldest overdue open item."),
    Column("overdue_amount", "numeric", "profile", "overdue_receivables", "Open receivables past their due date."),
    Column("dso", "numeric", "profile", "dso_count_back", "Days sales outstanding, count-back."),
    Column("dso_simple", "numeric", "profile", "dso_simple", "Days sales outstanding, simple."),
    Column("dso_change_3m", "numeric", "profile", "dso_simple_change_3m",
           "dso_simple now minus three month-ends ago."),
    Column("cei", "numeric", "profile", "collection_effectiveness_index", "Collection effectiveness index."),
    Column("credit_sales_3m", "numeric", "profile", "credit_sales", "Credit sales of the last three months."),
    Column("average_days_beyond_terms_12m", "numeric", "profile", "average_days_beyond_terms_12m",
           "Average days beyond terms of invoices paid in the last 12 months."),
    Column("share_paid_late_12m", "numeric", "profile", "share_paid_late_12m",
           "Share of the last 12 months' paid invoices paid after their due date."),
    Column("max_dpd_3m", "integer", "profile", "max_days_past_due_3m", "Highest DPD in the last 3 months."),
    Column("limit_breach_days_90d", "integer", "profile", "limit_breach_days_90d",
           "Days over the limit in the last 90 days."),
    Column("bureau_event_count_90d", "integer", "profile", "bureau_event_count_90d",
           "Bureau events in the last 90 days."),
    Column("bureau_score", "numeric", "profile", "bureau_score", "Bureau score (higher is better)."),
    Column("bureau_score_change_90d", "numeric", "profile", "bureau_score_change_90d",
           "Bureau score now minus 90 days earlier."),
    Column("registration_status_code", "text", "profile", "registration_status_code",
           "active, deregistered, revoked or other."),
    Column("has_write_off", "boolean", "profile", "has_write_off", "A receivable of the customer was written off."),
    Column("is_in_default", "boolean", "profile", "is_in_default", "In default as docs/domain.md defines it."),
    # the latest bureau report known on the day
    Column("is_dishonest_debtor", "boolean", "bureau_reports", "is_dishonest_debtor",
           "On the dishonest judgement debtor list."),
    Column("is_business_anomaly", "boolean", "bureau_reports", "is_business_anomaly", "On the business anomaly list."),
    Column("litigation_count", "integer", "bureau_reports", "litigation_count",
           "Lawsuits in the latest bureau report."),
    Column("admin_penalty_count", "integer", "bureau_reports", "admin_penalty_count",
           "Administrative penalties in the latest bureau report."),
    # bureau events dated in the 30 days up to the day and known by then
    Column("bureau_adverse_events_30d", "integer", "bureau_events", "event_id",
           "Adverse bureau events dated in the last 30 days."),
    Column("litigation_amount_30d", "numeric", "bureau_events", "event_amount",
           "Amount of litigation events dated in the last 30 days."),
    # scoring.customer_scores (champion model, latest score on or before the as-of date)
    Column("pd", "numeric", "scores", "pd", "12-month probability of default."),
    Column("grade", "integer", "scores", "grade", "Rating grade on the master scale (1 best … 10 worst)."),
    Column("points", "numeric", "scores", "points", "Scorecard points."),
    Column("grade_notches_down_30d", "integer", "scores_30d_ago", "grade",
           "grade now - grade 30 days ago: 2 = downgraded by two grades, negative = upgraded."),
    # scoring.customer_flags (set by the credit team)
    Column("has_fraud_flag", "boolean", "flags", "has_fraud_flag", "A fraud flag is in force."),
)

# What an onboarding application carries (``credit-dw onboard``): same names as the customer target
# where the meaning is the same, so blacklist rules apply to both.
APPLICATION_COLUMNS: dict[str, tuple[str, str]] = {
    "company_age_years": ("numeric", "Years since the company was established."),
    "registered_capital": ("numeric", "Registered capital (CNY)."),
    "industry": ("text", "Industry."),
    "litigation_count": ("integer", "Lawsuits on record."),
    "litigation_amount": ("numeric", "Total amount of open litigation."),
    "is_dishonest_debtor": ("boolean", "On the dishonest judgement debtor list."),
    "is_business_anomaly": ("boolean", "On the business anomaly list."),
    "registration_status_code": ("text", "active, deregistered, revoked or other."),
    "has_fraud_flag": ("boolean", "Flagged for fraud."),
    "bureau_score": ("numeric", "Bureau score (higher is better)."),
    "requested_limit": ("numeric", "Credit limit requested."),
    # filled in by the application scorecard before decision rules and the limit formula run
    "points": ("numeric", "Application scorecard points."),
    "pd": ("numeric", "PD from the application scorecard."),
    "grade": ("integer", "Grade of that PD on the project's master scale (1 best … 10 worst)."),
}

TARGETS: dict[str, dict[str, str]] = {
    "customer": {column.name: column.type for column in CUSTOMER_COLUMNS},
    "application": {name: kind for name, (kind, _) in APPLICATION_COLUMNS.items()},
}
CUSTOMER_COLUMN = {column.name: column for column in CUSTOMER_COLUMNS}


def systems_of(columns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The source systems whose freshness the customer columns depend on."""
    systems: set[str] = set()
    for name in columns:
        column = CUSTOMER_COLUMN.get(name)
        if column is not None:
            systems.update(COMPONENTS[column.component].systems)
    return tuple(system for system in SOURCE_SYSTEMS if system in systems)


@lru_cache(maxsize=1)
def documented_mart_columns() -> dict[str, dict[str, set[str]]]:
    """{model: {"columns": documented names, "pii": names tagged pii}} from the dbt YAML (marts and the
    intermediate models the bureau columns come from)."""
    models: dict[str, dict[str, set[str]]] = {}
    for path in sorted(Path(MODELS_DIR).rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            entry = models.setdefault(model["name"], {"columns": set(), "pii": set()})
            for column in model.get("columns") or []:
                entry["columns"].add(column["name"])
                tags = set(column.get("tags") or []) | set((column.get("config") or {}).get("tags") or [])
                if "pii" in tags:
                    entry["pii"].add(column["name"])
    return models


def undocumented_columns() -> list[str]:
    """Allow-listed columns that their mart's YAML does not document (or tags as personal data).
    A mart whose YAML is not in the repository yet is reported once, as pending."""
    documented = documented_mart_columns()
    findings, pending = [], set()
    for column in CUSTOMER_COLUMNS:
        component = COMPONENTS[column.component]
        model = component.documented_in
        if model is None:
            continue
        if model not in documented:
            pending.add(model)
            continue
        if column.source not in documented[model]["columns"]:
            findings.append(f"{column.name}: {model}.{column.source} is not documented")
        if column.source in documented[model]["pii"]:
            findings.append(f"{column.name}: {model}.{column.source} is personal data")
    findings.extend(f"{model}: no documentation in the repository yet" for model in sorted(pending))
    return findings


def available_columns(conn) -> tuple[set[str], dict[str, str]]:
    """Customer columns the warehouse can serve now, and why the others cannot be served."""
    relations: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in conn.execute(
        """select table_schema, table_name, column_name from information_schema.columns
           where (table_schema, table_name) in (select unnest(%s::text[]), unnest(%s::text[]))""",
        ([c.schema for c in COMPONENTS.values()], [c.table for c in COMPONENTS.values()]),
    ):
        relations.setdefault((schema, table), set()).add(column)
    available, missing = set(), {}
    for column in CUSTOMER_COLUMNS:
        component = COMPONENTS[column.component]
        have = relations.get((component.schema, component.table))
        needed = _needed_columns(column)
        if have is None:
            missing[column.name] = f"{component.schema}.{component.table} does not exist yet"
        elif not needed <= have:
            missing[column.name] = (f"{component.schema}.{component.table} has no column "
                                    f"{', '.join(sorted(needed - have))}")
        else:
            available.add(column.name)
    return available, missing


def _needed_columns(column: Column) -> set[str]:
    if column.component in {"scores", "scores_30d_ago"}:
        return {"as_of_date", "customer_id", "model_version", "is_shadow", "pd", "grade"} | (
            {"points"} if column.name == "points" else set())
    if column.component == "flags":
        return {"customer_id", "flag", "set_on", "cleared_on"}
    if column.component == "bureau_reports":
        return {"customer_id", "report_date", "known_date", column.source}
    if column.component == "bureau_events":
        return {"customer_id", "event_date", "known_date", "event_type", column.source}
    return {"as_of_date", "customer_id", column.source}


def customer_relation(available: set[str], *, profile_current: bool = False) -> str:
    """SELECT text of the customer target for as-of dates between %(start)s and %(end)s (bound
    parameters). Columns that are not available are typed NULLs, so every rule renders against the
    same shape. ``profile_current``: marts.customer_credit_profile (the latest as-of date) exists and
    is read besides the month-end history. Fixed SQL: nothing in it comes from a policy file."""
    needed = {CUSTOMER_COLUMN[name].component for name in available}
    selects = ["exposure.as_of_date", "exposure.customer_id"]
    for column in CUSTOMER_COLUMNS:
        if column.name not in available:
            selects.append(f"null::{_pg_type(column.type)} as {column.name}")
        elif column.name == "grade_notches_down_30d":
            selects.append("(scores.grade - scores_30d_ago.grade)::integer as grade_notches_down_30d")
        elif column.component == "bureau_events":
            selects.append(f"coalesce(bureau_events.{column.source}, 0) as {column.name}")
        else:
            selects.append(f"{column.component}.{column.source} as {column.name}")
    ctes = ["""days as (
        select distinct as_of_date from marts.fct_credit_exposure_daily
        where as_of_date between %(start)s and %(end)s
    )"""]
    joins = []
    if "profile" in needed:
        current = ("select * from marts.customer_credit_profile union all " if profile_current else "")
        ctes.append(f"""profile_snapshots as (
        {current}select * from marts.customer_credit_profile_history
    ),
    profile as (
        select distinct on (days.as_of_date, snapshot.customer_id) days.as_of_date as evaluated_on, snapshot.*
        from days
        inner join profile_snapshots as snapshot
            on snapshot.as_of_date <= days.as_of_date and snapshot.as_of_date > days.as_of_date - 400
        order by days.as_of_date, snapshot.customer_id, snapshot.as_of_date desc
    )""")
        joins.append("left join profile on profile.evaluated_on = exposure.as_of_date "
                     "and profile.customer_id = exposure.customer_id")
    if "bureau_reports" in needed:
        ctes.append("""bureau_reports as (
        select distinct on (days.as_of_date, report.customer_id) days.as_of_date as evaluated_on, report.*
        from days
        inner join intermediate.int_bureau_reports_mapped_to_customers as report
            on report.report_date <= days.as_of_date and report.known_date <= days.as_of_date
        order by days.as_of_date, report.customer_id, report.report_date desc
    )""")
        joins.append("left join bureau_reports on bureau_reports.evaluated_on = exposure.as_of_date "
                     "and bureau_reports.customer_id = exposure.customer_id")
    if "bureau_events" in needed:
        ctes.append("""bureau_events as (
        select days.as_of_date as evaluated_on, event.customer_id,
               count(*)::integer as event_id,
               coalesce(sum(event.event_amount) filter (where event.event_type = 'litigation'), 0) as event_amount
        from days
        inner join intermediate.int_bureau_events_mapped_to_customers as event
            on event.event_date > days.as_of_date - 30 and event.event_date <= days.as_of_date
            and event.known_date <= days.as_of_date
        group by days.as_of_date, event.customer_id
    )""")
        joins.append("left join bureau_events on bureau_events.evaluated_on = exposure.as_of_date "
                     "and bureau_events.customer_id = exposure.customer_id")
    if needed & {"scores", "scores_30d_ago"}:
        for name, shift in (("scores", 0), ("scores_30d_ago", 30)):
            ctes.append(f"""{name} as (
        select distinct on (days.as_of_date, score.customer_id)
            days.as_of_date, score.customer_id, score.pd, score.grade::integer as grade, score.points,
            score.model_version
        from days
        inner join scoring.customer_scores as score
            on not score.is_shadow
            and score.as_of_date <= days.as_of_date - {shift}
            and score.as_of_date > days.as_of_date - {shift} - 400
        order by days.as_of_date, score.customer_id, score.as_of_date desc, score.model_version desc
    )""")
            joins.append(f"left join {name} on {name}.as_of_date = exposure.as_of_date "
                         f"and {name}.customer_id = exposure.customer_id")
    if "flags" in needed:
        ctes.append("""flags as (
        select days.as_of_date, flag.customer_id, bool_or(flag.flag = 'fraud') as has_fraud_flag
        from days
        inner join scoring.customer_flags as flag
            on flag.set_on <= days.as_of_date and (flag.cleared_on is null or flag.cleared_on > days.as_of_date)
        group by days.as_of_date, flag.customer_id
    )""")
        joins.append("left join flags on flags.as_of_date = exposure.as_of_date "
                     "and flags.customer_id = exposure.customer_id")
        selects = [s if s != "flags.has_fraud_flag as has_fraud_flag"
                   else "coalesce(flags.has_fraud_flag, false) as has_fraud_flag" for s in selects]
    # not rule columns (absent from the allow-list): for the worklist's pd_source
    selects.append("scores.model_version as _model_version" if "pd" in available else "null::text as _model_version")
    body = ",\n    ".join(selects)
    return (
        "with " + ",\n    ".join(ctes) + "\n"
        f"select\n    {body}\nfrom marts.fct_credit_exposure_daily as exposure\n"
        + "\n".join(joins)
        + "\nwhere exposure.as_of_date between %(start)s and %(end)s"
    )


def _pg_type(kind: str) -> str:
    return {"numeric": "numeric", "integer": "integer", "text": "text", "boolean": "boolean"}[kind]
