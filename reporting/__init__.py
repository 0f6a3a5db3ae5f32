"""The nightly credit-risk report: one static HTML page (inline SVG charts, no network) and a PDF.

``build_report(as_of_date, *, database_url=None, out_dir=None)`` writes
``<CREDIT_DW_HOME>/reports/<date>/credit_report.html`` and ``credit_report.pdf`` and returns their
paths with a summary; ``credit-dw report --date D`` calls it.
"""

from reporting.build import build_report, default_out_dir

__all__ = ["build_report", "default_out_dir"]
