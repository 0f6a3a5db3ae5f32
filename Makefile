# The two front doors: `make demo` (the nightly pipeline on the embedded warehouse with sandbox
# data) and `make test` (the whole test suite). Both create .venv when it is missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The demo's business window: 13 months of sandbox history, closed by one nightly run.
DEMO_START ?= 2025-10-01
DEMO_DATE ?= 2026-10-31
DEMO_SCALE ?= small

.PHONY: demo test lint venv browser clean-state

venv: $(VENV)/.installed

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# The demo's migration of history: the landing files up to the day before DEMO_DATE are loaded by hand
# first (`credit-dw ingest`), so that each fact is known from its own business date and the marts hold
# 13 month-ends of point-in-time history, enough for the nightly run to train and activate a first PD
# model; the nightly run for DEMO_DATE then takes over. One nightly run over all 13 months instead
# would know every fact only from DEMO_DATE (a single month-end of history: no model).
DEMO_HISTORY_END ?= $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_DATE)') - d.timedelta(days=1))")
DEMO_LOGS = $${CREDIT_DW_HOME:-.credit_dw}/logs

demo: venv
	$(BIN)/credit-dw sandbox generate --scale $(DEMO_SCALE) --start $(DEMO_START) --end $(DEMO_DATE) --seed 42
	@mkdir -p $(DEMO_LOGS)
	@echo "Initial history load up to $(DEMO_HISTORY_END) (one table row per file in $(DEMO_LOGS)/initial_load.txt):"
	@$(BIN)/credit-dw ingest --date $(DEMO_HISTORY_END) > $(DEMO_LOGS)/initial_load.txt \
		|| { tail -n 30 $(DEMO_LOGS)/initial_load.txt; exit 1; }
	@grep -v "│" $(DEMO_LOGS)/initial_load.txt | grep -v "[┏┃┡└]" || true
	$(BIN)/credit-dw nightly --date $(DEMO_DATE)
	@echo
	@echo "Customers furthest over their credit limit:"
	@$(BIN)/credit-dw warehouse psql -c "select customer_id, customer_name, exposure, credit_limit, utilisation from marts.fct_credit_exposure_daily where as_of_date = '$(DEMO_DATE)' order by utilisation desc nulls last limit 10"
	@echo "How the PDs rank the sandbox's known defaulters (ground truth the pipeline never reads):"
	@$(BIN)/credit-dw model sandbox-auc --date $(DEMO_DATE)
	@echo "Where to look next:"
	@echo "  $(BIN)/credit-dw warehouse psql      SQL on raw, staging, marts, scoring, dq, ops"
	@echo "  $(BIN)/credit-dw model report        PSI, rating migration and PD back-test of the active model"
	@echo "  .credit_dw/sandbox/landing           the sandbox's source files"
	@echo "  .credit_dw/reports/$(DEMO_DATE)/     the nightly credit-risk report (HTML, PDF)"
	@echo "  .credit_dw/logs                      full logs of each nightly run"

# Two pytest-xdist workers, a test module each at a time (module fixtures build databases once);
# every worker has its own warehouse and Airflow databases (tests/conftest.py).
TEST_WORKERS ?= 2

test: venv browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The report test renders in Debian's headless Chromium (with CJK fonts for Chinese names). Install
# them when they are missing and this user may (root with apt); otherwise that one test skips, saying why.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null \
		|| echo "note: no /usr/bin/chromium and no way to install it here; the headless report test will skip"; }

lint: venv
	$(BIN)/ruff check .

clean-state:
	-$(BIN)/credit-dw warehouse stop
	rm -rf .credit_dw
