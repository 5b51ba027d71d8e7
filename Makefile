# The README's two commands: `make run` (the whole system locally) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ZOOM_REF := $(abspath ../shared/reference/zoom)
export ZOOM_OPENAPI_DIR ?= $(if $(wildcard $(ZOOM_REF)/meetings-openapi.json),$(ZOOM_REF),)

.PHONY: run test venv prereqs browser lint typecheck unit integration e2e demo bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is missing: install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

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

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

integration: prereqs
	@test -n "$(ZOOM_OPENAPI_DIR)" || { echo "error: ZOOM_OPENAPI_DIR is unset and ../shared/reference/zoom is missing"; exit 1; }
	$(VENV)/bin/pytest -q tests/integration

e2e: prereqs browser
	$(VENV)/bin/pytest -q tests/e2e

test: prereqs lint typecheck unit integration e2e

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done
