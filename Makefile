# expertise: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/expertise
STAMP := $(VENV)/.installed

.PHONY: help setup demo test lint clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the package with its dev extra

demo: setup ## Show the knowledge base and one article at each level
	$(CLI) kb list
	$(CLI) kb show wifi-dropping/novice
	$(CLI) kb show wifi-dropping/intermediate
	$(CLI) kb show wifi-dropping/expert

test: setup ## Lint the knowledge base and run the test suite
	$(CLI) kb lint
	$(PY) -m pytest -q

lint: setup ## Run ruff and mypy
	$(VENV)/bin/ruff check expertise tests
	$(VENV)/bin/mypy

clean: ## Remove the virtualenv and caches (keeps models and data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
