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
	@awk 'BEGIN {FS = ":.*## "; printf "PyPI Trends: make <target>\n\n"} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The environment is rebuilt whenever the lock changes.
$(VENV_STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	@touch $@

.PHONY: setup
setup: $(VENV_STAMP) ## Create .venv from the hashed lock (idempotent)

.PHONY: lint
lint: $(VENV_STAMP) ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: $(VENV_STAMP) ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test
test: setup ## Lint, then the whole test suite (the CI command)
	$(MAKE) lint
	$(PY) -m pytest

.PHONY: clean
clean: ## Remove generated data and dbt artefacts (keeps .venv)
	rm -rf data dbt/target dbt/logs .pytest_cache .mypy_cache .ruff_cache test-artifacts
