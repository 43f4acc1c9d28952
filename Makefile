# The two commands: `make demo` (SQLite + demo data + web, worker and scheduler, on :$PORT, default 8000) and `make test`;
# `make test-fast` skips the fuzz, concurrency and browser tests, `make lint` runs ruff and mypy.
# uv is bootstrapped into .tools/ when it is not on the machine; Python 3.12 comes from .python-version.
SHELL := /bin/bash
UV_SYSTEM := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_SYSTEM),$(UV_SYSTEM),.tools/bin/uv)
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system

.PHONY: demo test test-fast install lint serve chromium

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --frozen --python "$$(cat .python-version)"

# PORT sets where the web process listens; the demo's health checks follow it. Alerts go to the console mailer
# (printed in the worker's log) unless a channel is configured. DEBUG is off (DEBUG=1 make demo turns it on), so a
# visitor sees the product's own 404 and 500 pages, not Django's technical ones.
PORT ?= 8000
demo: install
	$(PY) manage.py migrate --no-input
	PORT=$(PORT) $(PY) manage.py demo_data
	@echo "Serving on http://127.0.0.1:$(PORT) with the task worker and the scheduler — sign in as owner / demo (Ctrl-C stops all)."
	DEBUG="$${DEBUG:-0}" PORT=$(PORT) MONITORING_EMAIL_TO="$${MONITORING_EMAIL_TO:-oncall@example.com}" PATH="$(CURDIR)/.venv/bin:$$PATH" \
	  .venv/bin/honcho start --port $(PORT)

# Browser tests drive Debian's Chromium: installed when missing and root, otherwise a one-line instruction.
chromium:
	@tools/ensure-chromium

# In parallel (pytest-xdist, one worker per core; PostgreSQL gets a test database per worker).
test: install chromium
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

# Everything but the slow kinds (fuzzing, concurrency races, real browser): the loop while developing.
test-fast: install
	$(PY) -m pytest -n auto -m "not fuzz and not concurrency and not browser" $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy
