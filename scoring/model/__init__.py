"""Probability-of-default models: scorecard (champion) and gradient-boosting challenger.

- ``evaluate``: the recipe cross-validated on any labelled CSV (``credit-dw model evaluate``);
- ``sample``: the warehouse development sample, 12-month default labels without leakage;
- ``train``: out-of-time training, calibration, registration as candidates;
- ``score.score_customers``: nightly scoring into ``scoring.customer_scores`` (active + shadow);
- ``monitor``: PSI, rating migration, PD back-test tables; ``report``: what the CLI shows;
- ``registry``: ``scoring.model_registry`` and the DDL of every table above;
- ``artifact``: skops files under ``<CREDIT_DW_HOME>/models/``; ``master_scale``: the grade table
  (dbt seed ``rating_master_scale``); ``pd_model``, ``binning``, ``dataset``, ``metrics``: the parts.

Modules import optbinning and scikit-learn lazily, so importing this package stays cheap.
"""

from __future__ import annotations


def score_customers(as_of_date, *, database_url=None, run_id=None) -> dict:
    """See ``scoring.model.score.score_customers``."""
    from scoring.model.score import score_customers as score

    return score(as_of_date, database_url=database_url, run_id=run_id)
