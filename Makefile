# Arrears -- build, run and test entry points.
#
# On a fresh Debian 12 machine two commands are enough:
#   make run     set up, create/upgrade the database, load the demo, serve on :5000
#                (with the background worker that prints batches of notices)
#   make test    set up, run the whole test suite on SQLite, then on PostgreSQL
# Both install what is missing (Debian packages via .ci/system-deps, the
# Python packages into .venv) and skip what is already there.
#
# Variables: PORT=5000  HOST=127.0.0.1  PYTEST_ARGS="-k ledger -x"
#            PYTHON=python3 (builds .venv)  BENCH_ARGS=...
#            TEST_DATABASE_URL (environment) = PostgreSQL for make test

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3
HOST        ?= 127.0.0.1
PORT        ?= 5000
PYTEST_ARGS ?=
BENCH_ARGS  ?=

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FLASK := $(VENV)/bin/flask --app wsgi

export FLASK_APP := wsgi
export PYTHON

.PHONY: help setup system-deps venv translations run test bench clean distclean

# List the targets.
help:
	@echo "make run        set up, init-db, load the demo (first time), serve on http://$(HOST):$(PORT)"
	@echo "make test       set up, run pytest on SQLite, then on PostgreSQL (PYTEST_ARGS=...)"
	@echo "make setup      only install system packages and .venv"
	@echo "make bench      run bench/ledger.py (BENCH_ARGS=...)"
	@echo "make clean      delete test and benchmark artefacts (keeps instance/: database, documents, keys)"
	@echo "make distclean  clean, and delete .venv too"

# Everything both `run` and `test` need, nothing started.
setup: system-deps venv

# Debian packages (fonts, WeasyPrint libraries, poppler, chromium): only the missing ones.
system-deps:
	@.ci/system-deps

# The virtualenv, with requirements.txt installed (again only when it changed).
venv: $(STAMP)

$(PY): | system-deps
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

# The Chinese catalog, compiled from the sources and arrears/translations/zh_CN/*.json.
translations: venv
	$(PY) -m arrears.translations.build || echo "some screen text is not translated yet (listed above)"

# Create or upgrade the database, load the demo estate when it is empty, serve.
run: setup translations
	$(FLASK) arrears init-db
	$(FLASK) arrears demo --if-empty
	@echo
	@echo "=================================================================="
	@echo "  Arrears: http://$(HOST):$(PORT)/"
	@echo "  Log in:  manager / demo1234     (or  clerk / demo1234)"
	@echo "  Stop:    Ctrl-C"
	@echo "=================================================================="
	@echo
	@# The background worker (batch printing) runs beside the web server and stops with it.
	ARREARS_DEVELOPMENT=1 ARREARS_PUBLIC_URL=$${ARREARS_PUBLIC_URL:-http://$(HOST):$(PORT)} \
	  $(FLASK) arrears worker & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	  ARREARS_DEVELOPMENT=1 ARREARS_PUBLIC_URL=$${ARREARS_PUBLIC_URL:-http://$(HOST):$(PORT)} \
	  $(FLASK) run --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then on PostgreSQL (see .ci/run-tests).
test: setup translations
	.ci/run-tests $(PYTEST_ARGS)

# The ledger benchmark.
bench: setup
	$(PY) bench/ledger.py $(BENCH_ARGS)

# Delete test and benchmark artefacts. Keeps instance/: the local database, issued
# documents and the keys (delete it by hand to start the demo afresh).
clean:
	rm -rf .pg .pytest_cache .hypothesis bench/out
	find . \( -path ./$(VENV) -o -path ./.git \) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# clean, and delete the virtualenv as well.
distclean: clean
	rm -rf $(VENV)
