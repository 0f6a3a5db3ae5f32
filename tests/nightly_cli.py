"""Running the `credit-dw` command line as a user would, in a child process: the nightly end-to-end
tests (tests/test_nightly_end_to_end.py, tests/test_nightly_operations.py) share it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [str(Path(sys.executable).parent / "credit-dw")]


def run_cli(*args: str, landing: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = env or {**os.environ, "CREDIT_DW_LANDING_DIR": str(landing), "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
