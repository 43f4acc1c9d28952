# The two commands: `make demo` (SQLite + demo data + server on :8000) and `make test` (the whole suite);
# `make test-fast` skips the fuzz, concurrency and browser tests, `make lint` runs ruff and mypy.
# uv is bootstrapped into .tools/ when it is not on the machine; Python 3.12 comes from .python-version.
SHELL := /bin/bash
UV_SYSTEM := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_SYSTEM),$(UV_SYSTEM),.tools/bin/uv)
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system

.PHONY: demo test test-fast install lint serve

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --frozen --python "$$(cat .python-version)"

demo: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py demo_data
	@echo "Serving on http://127.0.0.1:8000 — sign in as owner / demo (Ctrl-C stops)."
	$(PY) manage.py runserver 127.0.0.1:8000

# In parallel (pytest-xdist, one worker per core; PostgreSQL gets a test database per worker).
test: install
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

# Everything but the slow kinds (fuzzing, concurrency races, real browser): the loop while developing.
test-fast: install
	$(PY) -m pytest -n auto -m "not fuzz and not concurrency and not browser" $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy
