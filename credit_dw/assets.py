"""Airflow assets: what the pipeline produces, declared once. Producers list them as ``outlets``;
downstream DAGs schedule on them, so they run when the data they need has changed."""

from __future__ import annotations

from airflow.sdk import Asset

from credit_dw.marts import published_marts
from ingestion.feeds import FEEDS

RAW_SOURCES = {source: Asset(f"credit_dw.raw.{source}") for source in sorted({feed.source for feed in FEEDS})}
STAGING = Asset("credit_dw.staging")
# One asset per published mart table (the tables the publication copies into `marts`), all emitted
# by the publish task: a consumer schedules on the tables it reads.
PUBLISHED_MARTS = {model.name: Asset(f"credit_dw.marts.{model.name}") for model in published_marts()}
# Emitted by the nightly's decisions task, the last of its scoring stage: tonight's PDs are written too.
CREDIT_WARNINGS = Asset("credit_dw.scoring.credit_warnings")
# Emitted when a training run registered new models (a new shadow, or a first active model).
MODEL_REGISTRY = Asset("credit_dw.scoring.model_registry")
