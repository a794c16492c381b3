# PyPI Trends: `make` alone lists the targets. Every target that needs the
# Python environment creates it first (from the hashed lock) when missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed

.PHONY: help
help: ## Show this help
	@if [ -t 1 ]; then c=$$(printf '\033[36m'); r=$$(printf '\033[0m'); fi; \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "; printf "PyPI Trends: make <target>\n\n"} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-13s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)

# The environment is rebuilt whenever the lock changes.
$(VENV_STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	@touch $@

# Front-end packages for the pages (htmx, Pico CSS, uPlot), pinned in
# package-lock.json and served straight from node_modules: reinstalled when the
# lock changes. npm comes from apt (setup-system) when missing.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || $(MAKE) setup-system
	@! grep -n '://' package-lock.json || { echo "package-lock.json must not name a registry URL" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: setup
setup: $(VENV_STAMP) $(NODE_STAMP) ## Create .venv from the hashed lock and node_modules from package-lock.json (idempotent)

# System packages some tests drive (Debian names): chromium for the browser
# tests, caddy for the reverse-proxy config, npm for the front-end packages,
# redis-server for the rate limit shared by workers (compose runs Valkey, which
# speaks the same protocol). Installed only when missing.
SYSTEM_PACKAGES := chromium caddy npm redis-server

.PHONY: setup-system
setup-system: ## Install system packages used by tests: chromium, caddy, npm, redis-server (only when missing)
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do command -v $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYSTEM_PACKAGES)"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "installing:$$missing"; \
	$$sudo apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

# uv resolves the locks; it lives in its own tool venv so the locked .venv
# stays exactly what requirements.lock says. Pinned so re-locking is stable.
UV_VERSION := 0.13.8
UV_VENV := .venv-tools
LOCK_FLAGS := --generate-hashes --python-version 3.11 --no-header --quiet

.PHONY: lock
lock: ## Re-lock both hashed lock files (requirements.lock, requirements-runtime.lock)
	@test -x $(UV_VENV)/bin/uv || { $(PYTHON) -m venv $(UV_VENV) && $(UV_VENV)/bin/pip install --quiet uv==$(UV_VERSION); }
	$(UV_VENV)/bin/uv pip compile pyproject.toml --group dev $(LOCK_FLAGS) -o requirements.lock
	$(UV_VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements-runtime.lock
	@! grep -n -E '://|index-url|find-links' requirements.lock requirements-runtime.lock || \
	  { echo "lock files must not name an index or URL" >&2; exit 1; }

.PHONY: lint
lint: $(VENV_STAMP) ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: $(VENV_STAMP) ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: serve
serve: $(VENV_STAMP) $(NODE_STAMP) ## Serve the API on http://127.0.0.1:8000 (env PYPI_TRENDS_DB/_HOST/_PORT/_WORKERS)
	$(PY) -m serve

.PHONY: bench
bench: $(VENV_STAMP) ## Run every bench/bench_*.py (JSON to data/bench/), then render docs/benchmarks.md
	@# sync first: the files one script wrote (warehouses, exports) are not written
	@# back to disk by the kernel while the next one is measured.
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; sync; $(PY) $$script; done
	$(PY) bench/render.py

.PHONY: bench-docs
bench-docs: $(VENV_STAMP) ## Render docs/benchmarks.md from data/bench/*.json again, without measuring
	@# The scale report is rebuilt from its raw results (if any), so a change to
	@# bench/scale_report.py shows without simulating again.
	@if ls data/bench/scale/results_t*.json >/dev/null 2>&1; then \
		$(PY) bench/scale_bench.py --render-only; fi
	$(PY) bench/render.py

# Not part of `make bench`: simulating and exporting 1/100, 1/30, 1/10 and 1/3
# of PyPI with the design's breakdown threshold, then 1/100 without one (what
# the threshold saves), takes about 6 minutes on a quiet 2-core machine and
# ~10 GB of disk under data/bench/scale/.
.PHONY: bench-scale
bench-scale: $(VENV_STAMP) ## Simulate PyPI at 1/100, 1/30, 1/10, 1/3; export, measure, extrapolate; BigQuery bill (data/bench/scale.json), then render docs/benchmarks.md
	@sync
	$(PY) bench/scale_bench.py $(BENCH_SCALE_ARGS)
	@sync
	$(PY) bench/scale_bench.py --scales 100 --api-requests 0 --breakdown-min-downloads 0
	$(PY) bench/render.py

.PHONY: test
test: setup-system setup ## Lint, then the whole test suite (the CI command)
	$(MAKE) lint
	$(PY) -m pytest

# The BigQuery path on a local BigQuery API emulator (docs/bigquery.md): the
# test installs the emulator into .venv-bq-emulator (Python 3.13) from
# requirements-bigquery-emulator.lock when missing. `make test` runs it too.
BQ_E2E_LOGS := test-artifacts/bigquery-emulator

.PHONY: bigquery-e2e
bigquery-e2e: setup ## BigQuery path on a local emulator: dbt, Storage Read export, serve (logs: test-artifacts/bigquery-emulator)
	@mkdir -p $(BQ_E2E_LOGS)
	PYPI_TRENDS_BQ_EMULATOR_LOG_DIR=$(BQ_E2E_LOGS) $(PY) -m pytest tests/test_bigquery_emulator.py -v -rA --durations=5 -p no:cacheprovider
	@echo "logs: $(BQ_E2E_LOGS)/ (emulator.log, dbt-run-first.log, dbt-build.log, export.log, storage-read.jsonl, serve.log)"

.PHONY: sample
sample: $(VENV_STAMP) ## Generate the raw sample into $PYPI_TRENDS_RAW_DIR (default data/raw; SCALE=tiny|small|demo, skipped when up to date)
	$(PY) -m sample generate --scale $(or $(SCALE),demo) --out $(or $(PYPI_TRENDS_RAW_DIR),data/raw)

# dbt: incremental by week, so a rerun only rebuilds the newest weeks plus the
# lookback. Extra dbt flags via DBT_ARGS, e.g. DBT_ARGS='--full-refresh' or
# DBT_ARGS='--vars {start_week: 2026-09-07, end_week: 2026-10-05}'.
.PHONY: build
build: sample ## Build the dbt marts on the sample into data/warehouse.duckdb (models, unit + data tests)
	DBT_PROFILES_DIR=profiles $(VENV)/bin/dbt build --project-dir dbt --profiles-dir profiles $(DBT_ARGS)

# dbt's docs site (lineage, descriptions, tests) as one self-contained HTML file:
# it works before the first build (the catalog then lacks column types) and
# offline. `dbt docs serve --project-dir dbt --profiles-dir profiles` serves it.
.PHONY: docs
docs: sample ## Generate the dbt docs site into dbt/target/static_index.html (open it in a browser)
	@mkdir -p $(dir $(or $(PYPI_TRENDS_WAREHOUSE),data/warehouse.duckdb))
	DBT_PROFILES_DIR=profiles $(VENV)/bin/dbt docs generate --static --project-dir dbt --profiles-dir profiles
	@echo "dbt docs: $(CURDIR)/dbt/target/static_index.html"

.PHONY: schema-doc
schema-doc: $(VENV_STAMP) ## Regenerate docs/schema.md (the exported file's tables and columns) from the dbt manifest
	$(PY) docs/schema_doc.py

# Each run publishes a new release (keeps the last 3); extra flags via EXPORT_ARGS,
# e.g. EXPORT_ARGS='--dry-run' or EXPORT_ARGS='--keep 5'.
.PHONY: export
export: build ## Export the marts to data/pypi_trends.sqlite (+ data/parquet/), validated, published atomically
	$(PY) -m exports export $(EXPORT_ARGS)

# The production refresh (docs/operations.md): dbt build on DBT_TARGET (BigQuery
# when DBT_TARGET=prod), then export + publish only when a new week is complete.
.PHONY: refresh
refresh: $(VENV_STAMP) ## dbt build, then export and publish if a new complete week exists (DBT_TARGET=prod: BigQuery)
	$(PY) -m exports pipeline $(EXPORT_ARGS)

# The demo in one command. `exports pipeline` runs dbt build (incremental) and
# publishes only when the warehouse has a complete week the current file lacks,
# so a second `make run` reuses the sample, the marts and the published file.
.PHONY: run
run: setup sample ## Everything: setup, sample, dbt build, export, then serve on http://127.0.0.1:8000
	$(PY) -m exports pipeline $(EXPORT_ARGS)
	$(PY) -m serve

.PHONY: clean
clean: ## Remove generated data and dbt artefacts (keeps .venv)
	rm -rf data dbt/target dbt/logs .pytest_cache .mypy_cache .ruff_cache test-artifacts
