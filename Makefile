# The README's two commands: `make run` (the whole system locally) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# uv (from PyPI, pinned) reads and writes uv.lock, the one lock file with every dependency's hashes:
# the venv here, the Dockerfile and Cloud Build all install from it.
UV_VERSION := 0.9.30
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
ZOOM_REF := $(abspath ../shared/reference/zoom)
export ZOOM_OPENAPI_DIR ?= $(if $(wildcard $(ZOOM_REF)/meetings-openapi.json),$(ZOOM_REF),)

.PHONY: run test venv prereqs browser lint typecheck unit integration e2e coverage mutate chaos-small chaos demo bench lock lock-upgrade checkov openapi

# Branch coverage of shared/ and services/ across the tiers: unit starts the data afresh, the others add to it;
# the floor applies to the three together (`make coverage`), not to one tier alone.
COV_FRESH := --cov --cov-report= --cov-fail-under=0
COV_ADD := --cov --cov-append --cov-report= --cov-fail-under=0

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is missing: install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Exactly the locked versions (hash-checked), the project itself editable; --locked fails, naming
# `uv lock`, when pyproject.toml changed and uv.lock was not regenerated (run `make lock`).
$(STAMP): pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --extra dev --python $(PYTHON)
	@touch $(STAMP)

# Regenerate uv.lock after editing pyproject.toml's dependencies (keeps other pins); commit it.
lock: $(UV)
	$(UV) lock --python $(PYTHON)

# Move every dependency to the newest version pyproject.toml allows; commit uv.lock after `make test`.
lock-upgrade: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

venv: $(STAMP)

prereqs: $(STAMP)
	@$(PY) -m devstack.emulators --check
	@command -v terraform >/dev/null || { echo "error: terraform is missing: install Terraform 1.5+ (https://developer.hashicorp.com/terraform/install)"; exit 1; }

# The e2e browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium package for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: chromium is missing: install the Debian package chromium (apt-get install chromium)"; exit 1; fi; }
	@command -v chromium >/dev/null || { echo "error: installing chromium failed: install the Debian package chromium"; exit 1; }

run: prereqs
	$(PY) -m devstack.stack

demo: $(STAMP)
	$(PY) -m devstack.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	terraform fmt -check -recursive infra/terraform

# IaC scan of the Terraform; each finding is fixed or skipped in the .tf file with a one-line reason.
# BC_SKIP_MAPPING and --skip-download keep it offline (no guideline or check downloads).
# It runs from its own environment, locked in uv.lock too (the scan dependency group).
SCAN_VENV := $(TOOLS)/scan
$(SCAN_VENV)/.installed-stamp: pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(SCAN_VENV) $(UV) sync --locked --only-group scan --no-install-project --python $(PYTHON)
	@touch $@

checkov: $(SCAN_VENV)/.installed-stamp
	BC_SKIP_MAPPING=TRUE $(SCAN_VENV)/bin/checkov --directory infra/terraform --framework terraform --compact --quiet --skip-download

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q $(COV_FRESH) tests/unit

integration: prereqs
	@test -n "$(ZOOM_OPENAPI_DIR)" || { echo "error: ZOOM_OPENAPI_DIR is unset and ../shared/reference/zoom is missing"; exit 1; }
	$(VENV)/bin/pytest -q $(COV_ADD) tests/integration

e2e: prereqs browser
	$(VENV)/bin/pytest -q $(COV_ADD) tests/e2e

test: prereqs lint checkov typecheck unit integration e2e chaos-small coverage

# The combined report: every file not fully covered with its missing lines and branches (12->15: the
# branch from line 12 to line 15 never ran); fails under the floor in pyproject.toml.
coverage: $(STAMP)
	@$(VENV)/bin/coverage combine --quiet --append 2>/dev/null || true
	$(VENV)/bin/coverage report

# Mutation testing of shared/ and services/ against the unit tier (heavy: run it on its own, not in `make test`).
# MUTANTS="shared.notify.ledger.*" limits a run to some modules while iterating.
mutate: $(STAMP)
	$(VENV)/bin/mutmut run --max-children $(or $(MUTATE_JOBS),2) $(MUTANTS)
	$(PY) -m devstack.mutation_report

# Rewrite shared/openapi.json from the routes (a unit test fails while it is out of date).
openapi: $(STAMP)
	$(PY) -m tests.openapi_document

# The small chaos run (40 bookings, every fault switch on, one worker SIGKILLed; about 2 minutes), part of
# `make test`; `make chaos` is the full one.
chaos-small: prereqs
	$(VENV)/bin/pytest -q tests/chaos


# 1,000 bookings across 50 creators under duplicated pushes, provider faults, SMTP refusals and SIGKILLs;
# prints the invariants' figures and how long settling took, and fails when an invariant does not hold.
chaos: prereqs
	$(PY) -m tests.chaos

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done
