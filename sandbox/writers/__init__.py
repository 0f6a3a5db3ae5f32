"""Serialisers for the formats the source systems drop: CSV/JSON lines, camt.053, MT940."""
