"""A throw-away database on the warehouse's server, for one benchmark run."""

from __future__ import annotations

import uuid

from credit_dw import warehouse


def scratch_database(prefix: str = "credit_dw_bench") -> str:
    """Create an empty, uniquely named database next to the warehouse and return its URL."""
    url = warehouse.with_database(warehouse.database_url(), f"{prefix}_{uuid.uuid4().hex[:8]}")
    warehouse.ensure_database(url)
    return url


drop_database = warehouse.drop_database
