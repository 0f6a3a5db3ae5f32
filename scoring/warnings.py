"""``scoring.credit_warnings``: the early warnings of each business date, one row per customer and
rule that fired, as a view over the policy rules' hits (``scoring.rule_hits``).

It used to be a table of its own, filled by a hard-coded limit-breach query beside the policy's
``limit_breach`` rule of the same meaning; the policy is now the one home of every warning and
blacklist rule, and this view keeps the table's columns for its readers. Per business date it shows
the active (not shadow) rule set last evaluated for that date, suppressed rules included: a warning
held even when a stale source kept its alert from being raised or resolved.
"""

from __future__ import annotations

WARNINGS_VIEW = "scoring.credit_warnings"

WARNINGS_DDL = """
do $$
begin
    -- the table this view replaces (derived data: the rule hits hold the same dates)
    if exists (select 1 from pg_class
               where oid = to_regclass('scoring.credit_warnings') and relkind = 'r') then
        drop table scoring.credit_warnings;
    end if;
end
$$;
create or replace view scoring.credit_warnings as
with latest_evaluations as (
    select distinct on (as_of_date)
        as_of_date,
        content_hash
    from scoring.rule_evaluations
    where not is_shadow
    order by as_of_date, evaluated_at desc
)
select
    hits.as_of_date,
    hits.customer_id,
    hits.rule_id,
    hits.rule_version,
    hits.severity,
    hits.evidence,
    hits.run_id,
    hits.evaluated_at as raised_at,
    hits.rule_kind,
    hits.rule_set,
    hits.rule_set_version
from scoring.rule_hits as hits
inner join latest_evaluations
    on hits.as_of_date = latest_evaluations.as_of_date
    and hits.content_hash = latest_evaluations.content_hash
where not hits.is_shadow
    and hits.rule_kind in ('warning', 'blacklist');
comment on view scoring.credit_warnings is
    'Early warnings per business date and customer: hits of the active policy''s warning and blacklist rules';
"""


def ensure_warnings(conn) -> None:
    """Create the view (after ``scoring.rules.engine.ensure_engine``); no DDL when it exists."""
    exists = conn.execute(
        "select exists (select 1 from pg_class where oid = to_regclass(%s) and relkind = 'v')", (WARNINGS_VIEW,)
    ).fetchone()[0]
    if not exists:
        conn.execute(WARNINGS_DDL)
