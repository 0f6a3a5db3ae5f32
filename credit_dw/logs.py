"""Structured logs of the pipeline: one JSON object per line, naming the business date, the run and,
where there is one, the load batch.

The pipeline sets what it is working on with ``run_context(business_date=…, run_id=…, stage=…)``;
every record logged inside it (by ``credit_dw`` and the packages it calls) carries those fields, and
``extra={"batch_id": …}`` adds the batch. ``configure()`` (idempotent) writes them to
``<home>/logs/pipeline.jsonl``; Airflow's task log keeps its own copy through propagation.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from credit_dw.settings import Settings, get_settings

# The loggers of the project's own packages: libraries' chatter (Airflow, dbt, GX) stays out.
PROJECT_LOGGERS = ("credit_dw", "ingestion", "expectations", "mdm", "scoring", "reporting", "api")
# Fields a record may carry through ``extra=`` that belong in the JSON line.
EXTRA_FIELDS = ("batch_id", "source_file", "rows", "seconds", "status", "try_number")

_context: ContextVar[dict[str, Any] | None] = ContextVar("credit_dw_log_context", default=None)


@contextlib.contextmanager
def run_context(**fields: Any) -> Iterator[None]:
    """Name what the code inside works on; nested contexts add to (and override) the outer one."""
    named = {key: value for key, value in fields.items() if value is not None}
    token = _context.set({**(_context.get() or {}), **named})
    try:
        yield
    finally:
        _context.reset(token)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **(_context.get() or {}),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                document[name] = getattr(record, name)
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def log_path(settings: Settings | None = None):
    return (settings or get_settings()).home / "logs" / "pipeline.jsonl"


def configure(settings: Settings | None = None) -> None:
    """Send the project's INFO records to the JSON-lines file (once per process and file)."""
    path = log_path(settings)
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(handler, "credit_dw_path", None) == path for handler in logger.handlers):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.credit_dw_path = path
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
