# ml-connector — developer entry points. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install whenever the metadata of either distribution or the lock file changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sandbox/pyproject.toml requirements/constraints.txt | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

SOAK_TRIALS ?= 1200
SOAK_SEED ?=
SOAK_ARGS ?=

.PHONY: help install system-deps lint format test compat demo bench soak sandbox lock clean

help:
	@echo "make demo    run every integration end to end on the built-in sandbox (no credentials)"
	@echo "make test    install what the tests need (Python deps, PostgreSQL, OpenSSH) and run lint + pytest"
	@echo "make lint    ruff + mypy"
	@echo "make bench   run the benchmarks (table + JSON under benchmarks/results/)"
	@echo "make soak    randomised kill/race/fault trials per integration (SOAK_TRIALS=1200 each, SOAK_SEED=;"
	@echo "             table + JSON under benchmarks/results/soak-<time>.json; failures print a replay command)"
	@echo "make sandbox run the sandbox stand-ins in the foreground"
	@echo "make compat  install the provider wheel, without the lock file, into stock Airflow (oldest supported"
	@echo "             and newest 3.x) and check pip, the providers commands and a DagBag of the example"
	@echo "make lock    re-resolve and rewrite requirements/constraints.txt (this repository's dev and CI only)"

# The provider and the sandbox (its own distribution, see docs/sandbox.md), both editable, in one resolve.
$(STAMP): pyproject.toml sandbox/pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[test,lint]' -e ./sandbox
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install system-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Not through .venv: each Airflow version gets a fresh environment (scripts/compat.sh).
compat:
	PYTHON=$(PYTHON) bash scripts/compat.sh

demo: install
	$(BIN)/ml-connector demo

bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

soak: install system-deps
	@mkdir -p benchmarks/results
	$(BIN)/python -m tests.soak --integration all --trials $(SOAK_TRIALS) \
		$(if $(SOAK_SEED),--seed $(SOAK_SEED)) \
		--json benchmarks/results/soak-$$(date -u +%Y%m%dT%H%M%SZ).json $(SOAK_ARGS)

sandbox: install
	$(BIN)/ml-connector sandbox

lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e '.[test,lint]' -e ./sandbox
	{ sed -n '/^#/p' requirements/constraints.txt; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e '; } > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .demo build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
