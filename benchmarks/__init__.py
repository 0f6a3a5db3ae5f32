"""Benchmarks: measured on demand (``python -m benchmarks.<name>``), never part of the test suite."""
