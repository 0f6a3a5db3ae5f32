"""Parse and validate one file without loading it: what ``credit-dw inspect`` prints."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion.feeds import Feed
from ingestion.readers import FileReport, UnreadableFile, identify_feed, read
from ingestion.validation import validate

SAMPLE_SIZE = 5


class UnknownFeed(Exception):
    pass


def feed_of(path: Path, source: str | None) -> Feed:
    feed = identify_feed(path, source)
    if feed is None:
        raise UnknownFeed(f"{path.name}: neither its name nor its content matches a feed (see ingestion/feeds.py)")
    return feed


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def inspect_file(path: Path, source: str | None = None) -> dict:
    """{"source", "format", "rows", "valid", "quarantined", "reasons", "sample"}; personal data in
    the sample is masked. Raises UnreadableFile or UnknownFeed."""
    feed = feed_of(path, source)
    report = FileReport()
    rows = valid = 0
    reasons: dict[str, int] = {}
    sample: list[dict] = []
    for _, _, fields in read(path, feed, report):
        rows += 1
        values, rejection = validate(feed, fields)
        if rejection is not None:
            reasons[rejection.kind] = reasons.get(rejection.kind, 0) + 1
            continue
        valid += 1
        if len(sample) < SAMPLE_SIZE:
            sample.append({
                column.name: ("***" if column.pii and value is not None else _plain(value))
                for column, value in zip(feed.columns, values, strict=True)
            })
    return {
        "source": feed.source,
        "feed": feed.name,
        "format": feed.format,
        "encoding": report.encoding,
        "rows": rows,
        "valid": valid,
        "quarantined": rows - valid,
        "reasons": reasons,
        "schema_drift": report.drift,
        "sample": sample,
    }


__all__ = ["UnknownFeed", "UnreadableFile", "inspect_file"]
