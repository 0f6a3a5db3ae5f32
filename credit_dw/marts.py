"""The marts as the dbt project declares them: each model under ``dbt_project/models/marts/`` with
its documented columns, grain keys, not-null and accepted-value columns (its ``_*__models.yml``)
and its materialisation. The tables among them are what the nightly publishes: the quality gate
gives each a suite (``expectations.suites``) and Airflow an asset (``credit_dw.assets``).

Read from the yml files, not from dbt's manifest, so that DAG files can import it cheaply.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from credit_dw.settings import DBT_PROJECT_DIR  # not credit_dw.dbt: DAG files import this module

MARTS_MODELS_DIR = DBT_PROJECT_DIR / "models" / "marts"
# dbt materialisations that leave a table in the build schema, which the publication copies
TABLE_MATERIALIZATIONS = frozenset({"table", "incremental"})
_MATERIALIZED = re.compile(r"""materialized\s*=\s*['"](\w+)['"]""")


@dataclass(frozen=True)
class MartModel:
    """A mart as its yml docs describe it (``models/marts/**/_*__models.yml``)."""

    name: str
    materialized: str
    columns: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]  # the grain: unique (combinations of) columns
    not_null: tuple[str, ...]
    accepted_values: tuple[tuple[str, tuple[str, ...]], ...]


# libyaml's loader when PyYAML has it: DAG files import this module
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)


def _test_name_and_arguments(test: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(test, str):
        return test, {}
    [(name, body)] = test.items()
    body = body or {}
    return name, body.get("arguments", body)


def _marts_default_materialization() -> str:
    project = _yaml(DBT_PROJECT_DIR / "dbt_project.yml")
    return project["models"][project["name"]]["marts"].get("+materialized", "view")


@functools.cache
def mart_models() -> dict[str, MartModel]:
    """Every model under ``models/marts/`` with a yml entry, by name (parsed once per process)."""
    default = _marts_default_materialization()
    models: dict[str, MartModel] = {}
    for docs in sorted(MARTS_MODELS_DIR.rglob("_*__models.yml")):
        for model in _yaml(docs).get("models") or []:
            sql_file = docs.parent / f"{model['name']}.sql"
            configured = _MATERIALIZED.search(sql_file.read_text(encoding="utf-8")) if sql_file.exists() else None
            materialized = (model.get("config") or {}).get("materialized") or (
                configured.group(1) if configured else default)
            keys, not_null, accepted = [], [], []
            for test in model.get("data_tests") or []:
                name, arguments = _test_name_and_arguments(test)
                if name.endswith("unique_combination_of_columns"):
                    keys.append(tuple(arguments["combination_of_columns"]))
            for column in model.get("columns") or []:
                for test in column.get("data_tests") or []:
                    name, arguments = _test_name_and_arguments(test)
                    if name == "unique":
                        keys.append((column["name"],))
                    elif name == "not_null":
                        not_null.append(column["name"])
                    elif name == "accepted_values":
                        accepted.append((column["name"], tuple(arguments["values"])))
            models[model["name"]] = MartModel(
                name=model["name"], materialized=materialized,
                columns=tuple(column["name"] for column in model.get("columns") or []),
                keys=tuple(keys), not_null=tuple(not_null), accepted_values=tuple(accepted),
            )
    return models


def published_marts() -> list[MartModel]:
    """The marts the nightly publication copies: those dbt leaves as tables."""
    return [model for model in mart_models().values() if model.materialized in TABLE_MATERIALIZATIONS]
