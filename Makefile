# expertise: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/expertise
STAMP := $(VENV)/.installed

.PHONY: help setup demo test lint clean data

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask]'
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the package with its dev and dask extras

models/current: | $(STAMP)
	$(CLI) train --promote

demo: setup models/current ## Answer three callers with the same fault, at three levels
	@echo "== A novice caller =="
	$(CLI) answer "Hello, the internet has stopped working and the little box with the lights has gone orange. I'm not very good with technology, my son usually sorts it. What do I press?"
	@echo "== An intermediate caller =="
	$(CLI) answer "No internet since this morning. I've restarted the router twice and checked the cables, the light is still orange. Other devices can't connect either. What should I try next?"
	@echo "== An expert caller =="
	$(CLI) answer "Hub on fw 4.2.1 shows WAN down: PPPoE auth fails, no IP on the WAN interface. ONT link light is fine, VLAN 101 and MTU 1492 unchanged. Is there an outage or an auth issue on your side?"

test: setup ## Lint the knowledge base and run the test suite (slow checks: make test-slow)
	$(CLI) kb lint
	$(PY) -m pytest -q -m "not slow"

test-slow: setup ## The slow checks: real subprocesses killed mid-run, signals, retraining
	$(PY) -m pytest -q -m slow

data: setup ## Rebuild the bundled sample data from the phrase bank (deterministic)
	$(PY) -c "from pathlib import Path; from expertise.tickets.simulate import build_sample_data; print(build_sample_data(Path('data')))"

# models/.built is a stamp: make reruns training only when an input is newer than it, and
# `train --if-changed` then compares fingerprints with the current model, so a fresh clone
# (all files new) retrains only if the committed model really is out of date.
# The code that changes a model: the same list as expertise.lifecycle.train.MODEL_CODE (a test
# compares them), so that editing, say, the CLI does not retrain.
MODEL_CODE := expertise/config.py expertise/privacy.py expertise/knowledge_base.py \
	$(shell find expertise/scoring expertise/modeling -name '*.py' 2>/dev/null) \
	expertise/tickets/labelled.py
TRAIN_INPUTS := $(wildcard data/*.csv data/messages/*.csv) $(shell find knowledge_base -type f 2>/dev/null) \
	$(MODEL_CODE)

models/.built: $(TRAIN_INPUTS) | $(STAMP)
	$(CLI) train --promote --if-changed
	@touch $@

.PHONY: train evaluate retrain print-model-code test-slow

train: setup models/.built ## Train and promote a model if data, knowledge base or code changed

evaluate: setup ## Evaluate the current model on the bundled evaluation sets (and baselines)
	$(CLI) evaluate

retrain: setup ## Ingest data/inbox, train a candidate, promote it only if it is not worse
	$(CLI) retrain

print-model-code: ## List the code files whose change retrains the model
	@printf '%s\n' $(sort $(MODEL_CODE))

.PHONY: bench bench-quick

bench: setup ## Measure speed and memory against baselines (long); writes bench/results.{json,md}
	$(PY) bench/run.py

bench-quick: setup ## A smaller benchmark run (under 2 minutes); writes bench/results-quick.*
	$(PY) bench/run.py --quick

lint: setup ## Run ruff and mypy
	$(VENV)/bin/ruff check expertise tests
	$(VENV)/bin/mypy

clean: ## Remove the virtualenv and caches (keeps models and data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
