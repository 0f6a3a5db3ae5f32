"""Early warnings raised from the marts, stored in ``scoring.credit_warnings``.

Evaluation is idempotent per business date and rule: re-running a date replaces that date's
warnings for the rule, never adds to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from credit_dw import warehouse

WARNINGS_DDL = """
create schema if not exists scoring;
create table if not exists scoring.credit_warnings (
    as_of_date date not null,
    customer_id text not null,
    rule_id text not null,
    rule_version integer not null,
    severity text not null check (severity in ('low', 'medium', 'high', 'critical')),
    evidence jsonb not null,
    run_id text,
    raised_at timestamptz not null default now(),
    primary key (as_of_date, customer_id, rule_id)
);
"""

LIMIT_BREACH_RULE = "limit_breach"
LIMIT_BREACH_VERSION = 1
# Exposure this far above the limit is escalated from medium to high severity.
HIGH_SEVERITY_UTILISATION = 1.2


@dataclass(frozen=True)
class WarningSummary:
    as_of_date: date
    raised: int
    by_severity: dict[str, int]

    def as_dict(self) -> dict:
        return {"as_of_date": self.as_of_date.isoformat(), "raised": self.raised, "by_severity": self.by_severity}


def raise_limit_breach_warnings(
    as_of_date: date, *, database_url: str | None = None, run_id: str | None = None
) -> WarningSummary:
    """One warning per customer whose exposure exceeds its credit limit on ``as_of_date``."""
    with warehouse.connect(database_url) as conn:
        conn.execute(WARNINGS_DDL)
        conn.execute(
            "delete from scoring.credit_warnings where as_of_date = %s and rule_id = %s",
            (as_of_date, LIMIT_BREACH_RULE),
        )
        conn.execute(
            """
            insert into scoring.credit_warnings
                (as_of_date, customer_id, rule_id, rule_version, severity, evidence, run_id)
            select
                as_of_date,
                customer_id,
                %(rule)s,
                %(version)s,
                case when utilisation > %(high)s then 'high' else 'medium' end,
                jsonb_build_object(
                    'exposure', exposure, 'credit_limit', credit_limit,
                    'utilisation', utilisation, 'currency', currency
                ),
                %(run_id)s
            from marts.fct_credit_exposure_daily
            where as_of_date = %(as_of)s and is_over_limit
            """,
            {"rule": LIMIT_BREACH_RULE, "version": LIMIT_BREACH_VERSION, "high": HIGH_SEVERITY_UTILISATION,
             "run_id": run_id, "as_of": as_of_date},
        )
        counts = dict(conn.execute(
            """select severity, count(*) from scoring.credit_warnings
               where as_of_date = %s and rule_id = %s group by severity order by severity""",
            (as_of_date, LIMIT_BREACH_RULE),
        ).fetchall())
    return WarningSummary(as_of_date, sum(counts.values()), counts)
