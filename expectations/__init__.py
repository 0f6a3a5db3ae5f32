"""Data-quality gates: Great Expectations suites per warehouse table (``suites``) and the runner
that validates them and records every outcome in ``dq.validation_results`` (``validate``)."""
