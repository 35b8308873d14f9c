# MolExp: `make run` serves the site with a worker and beat; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Python 3.11 when it runs here (a pyenv shim may exist without the version), else python3.
BOOTSTRAP_PYTHON := $(shell for p in python3.11 python3; do $$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; break; }; done)

PORT ?= 8000
export PORT

# Production-like services for the second pass of the suite (.ci/run starts them).
MOLEXP_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
MOLEXP_TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# The suite keeps its own var/ (test database, broker folders, secret) apart from `make run`'s data.
TEST_VAR_DIR := $(CURDIR)/var/test
# Browser tests need Debian's Chromium (.ci/run installs it); without it they are left out, loudly.
# Decided when the recipe runs, after install-dev, not when make reads this file.
BROWSER_MARKERS = -m "$$([ -x /usr/bin/chromium ] || echo 'not browser')"
PYTEST_ARGS ?=
# The suite writes bytecode caches (__pycache__/, ignored by git) even when the caller's shell sets
# PYTHONDONTWRITEBYTECODE: otherwise every pytest worker compiles and assertion-rewrites the ~600
# modules it collects (≈ 15 CPU-s each) and every worker, inspector and client subprocess compiles
# the project again (≈ 0.4 CPU-s each).
KEEP_BYTECODE := -u PYTHONDONTWRITEBYTECODE
# The embedded default must not see a DATABASE_URL or broker from the caller's shell.
EMBEDDED_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL $(KEEP_BYTECODE) MOLEXP_VAR_DIR=$(TEST_VAR_DIR)

.PHONY: help run serve test lint venv install install-dev

help:
	@echo "make run   - install, migrate, seed the demo and serve http://127.0.0.1:$(PORT)/ with a worker and beat"
	@echo "make serve - start web, worker and beat again without the set-up steps of make run"
	@echo "make test  - lint, migration check, the suite on SQLite + filesystem broker and on PostgreSQL + Redis (side by side)"

$(PY):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "Python 3.11 (or python3) is needed to create $(VENV)"; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: pip runs again only when a requirements file is newer than its stamp.
$(VENV)/.installed-runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

venv: $(PY)
install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

# honcho loads an optional .env (see .env.example) for the set-up steps and the processes alike.
HONCHO := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho

# The Procfile under honcho, with a grace long enough for Celery's warm shutdown (molexp_site/supervise.py).
SUPERVISE = MOLEXP_EXIT_WITH_PARENT=1 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m molexp_site.supervise start -f Procfile -p $(PORT)

run: $(VENV)/.installed-runtime
	$(HONCHO) run python manage.py migrate --noinput
	$(HONCHO) run python manage.py collectstatic --noinput --verbosity 0
	$(HONCHO) run python manage.py seed_demo
	@echo "Starting web (http://127.0.0.1:$(PORT)/), worker and beat; Ctrl-C stops them all."
	@echo "Health: http://127.0.0.1:$(PORT)/healthz  Metrics: http://127.0.0.1:$(PORT)/metrics (docs/operations.md)"
	$(SUPERVISE)

# The processes only, for a var/ that `make run` prepared (no migrate, collectstatic or seeding).
serve: $(VENV)/.installed-runtime
	$(SUPERVISE)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(EMBEDDED_ENV) $(PY) manage.py makemigrations --check --dry-run

# The two passes run side by side (each in its own var/ folder, its own broker and database), and
# each pass spreads its test files over TEST_WORKERS pytest-xdist workers (tests/xdist_isolation.py
# gives every worker its own var/ and Redis database): while one test waits on a worker process, a
# browser or a timeout, another test uses the CPU (on an idle 2-core machine the suite is CPU-bound and
# this gains little; README, *What make test does*). TEST_WORKERS=0 runs each pass in one process;
# TEST_PARALLEL=0 runs the passes one after the other, with live output.
TEST_PARALLEL ?= 1
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-n 0,-n $(TEST_WORKERS) --dist loadfile)
SQLITE_PASS = env -u DATABASE_URL -u CELERY_BROKER_URL $(KEEP_BYTECODE) MOLEXP_VAR_DIR=$(TEST_VAR_DIR)/sqlite \
	$(PY) -m pytest $(XDIST) --durations=15 $(BROWSER_MARKERS) $(PYTEST_ARGS)
POSTGRES_PASS = env $(KEEP_BYTECODE) MOLEXP_VAR_DIR=$(TEST_VAR_DIR)/postgres DATABASE_URL=$(MOLEXP_TEST_DATABASE_URL) \
	CELERY_BROKER_URL=$(MOLEXP_TEST_BROKER_URL) $(PY) -m pytest $(XDIST) --durations=15 $(BROWSER_MARKERS) $(PYTEST_ARGS)

test: lint
	rm -rf $(TEST_VAR_DIR)
	@# The production static pipeline (manifest + compression) must accept every vendored file.
	$(EMBEDDED_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	@[ -x /usr/bin/chromium ] || echo "NOTE: /usr/bin/chromium missing: browser tests are skipped (apt-get install -y chromium)"
ifeq ($(TEST_PARALLEL),0)
	@echo "=== suite on SQLite + filesystem broker ==="
	$(SQLITE_PASS)
	@echo "=== suite on PostgreSQL + Redis ==="
	$(POSTGRES_PASS)
else
	@echo "=== suite on SQLite + filesystem broker and on PostgreSQL + Redis, side by side ==="
	@mkdir -p $(TEST_VAR_DIR)
	@( $(SQLITE_PASS) > $(TEST_VAR_DIR)/sqlite.log 2>&1; echo $$? > $(TEST_VAR_DIR)/sqlite.rc ) & \
	( $(POSTGRES_PASS) > $(TEST_VAR_DIR)/postgres.log 2>&1; echo $$? > $(TEST_VAR_DIR)/postgres.rc ) & \
	wait; \
	for pass in sqlite postgres; do \
	  echo; echo "=== suite on $$pass (exit $$(cat $(TEST_VAR_DIR)/$$pass.rc)) ==="; cat $(TEST_VAR_DIR)/$$pass.log; \
	done; \
	test "$$(cat $(TEST_VAR_DIR)/sqlite.rc)" = 0 && test "$$(cat $(TEST_VAR_DIR)/postgres.rc)" = 0
endif

# Benchmarks (SPEC §11): PostgreSQL + Redis on 127.0.0.1; own database molexp_bench, Redis db 9.
# `make bench` = reduced scale (a few minutes); `make bench SCALE=full` = 100 k runs / 1 M assets;
# `SCALE=huge` = 500 k runs / 10 M assets (24 GB of PostgreSQL data, 25 min to generate; benchmarks/common.py).
SCALE ?= reduced
BENCH_ARGS ?=
.PHONY: bench
bench: $(VENV)/.installed-dev
	env -u DATABASE_URL -u CELERY_BROKER_URL $(PY) benchmarks/run_all.py --scale=$(SCALE) $(BENCH_ARGS)
