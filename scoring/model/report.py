"""What ``credit-dw model report`` shows: PSI per feature and score, the rating migration matrix and
the PD back-test per grade, for one model (default: the active one), read from the scoring tables."""

from __future__ import annotations

from datetime import date

from credit_dw import warehouse
from scoring.model import registry


def report_data(*, version: str | None = None, as_of: date | None = None, database_url: str | None = None) -> dict:
    with warehouse.connect(database_url) as conn:
        registry.ensure_schema(conn)
        if version is None:
            active = registry.models(conn, status="active")
            if not active:
                raise registry.RegistryError("no active model: train one (credit-dw model train) and promote it")
            record = active[0]
        else:
            record = registry.get(conn, version)
        version = record.model_version
        day = as_of or conn.execute(
            "select max(as_of_date) from scoring.model_monitoring where model_version = %s", (version,)).fetchone()[0]
        psi = [
            {"feature": f, "psi": v, "status": s}
            for f, v, s in conn.execute(
                """select feature, value, status from scoring.model_monitoring
                   where model_version = %s and as_of_date = %s and metric = 'psi'
                   order by feature = '(score)' desc, value desc nulls last""", (version, day))
        ]
        migration_day = conn.execute(
            "select max(to_date) from scoring.rating_migration where model_version = %s and to_date <= %s",
            (version, day or date.max)).fetchone()[0]
        migration = [
            {"from_date": a, "to_date": b, "from_grade": g1, "to_grade": g2, "customers": n}
            for a, b, g1, g2, n in conn.execute(
                """select from_date, to_date, from_grade, to_grade, customers from scoring.rating_migration
                   where model_version = %s and to_date = %s order by from_grade, to_grade""",
                (version, migration_day))
        ]
        backtest = [
            {"sample": s, "grade": g, "customers": int(n), "defaults": int(d), "predicted_pd": p,
             "observed_default_rate": o, "observation_dates": int(k), "outcome_days_min": int(w)}
            for s, g, n, d, p, o, k, w in conn.execute(
                """select sample, grade, sum(customers), sum(defaults),
                          sum(predicted_pd * customers) / nullif(sum(customers), 0),
                          sum(defaults)::float8 / nullif(sum(customers), 0),
                          count(distinct observation_date), min(outcome_days)
                   from scoring.pd_backtest where model_version = %s
                   group by sample, grade order by sample, grade""", (version,))
        ]
        scored = conn.execute(
            """select count(*), avg(pd), sum(is_in_default::int) from scoring.customer_scores
               where model_version = %s and as_of_date = %s""", (version, day)).fetchone()
    return {
        "model": record.as_dict(), "as_of_date": day, "psi": psi, "migration": migration, "backtest": backtest,
        "scored": {"customers": scored[0], "mean_pd": scored[1], "in_default": scored[2]},
    }
