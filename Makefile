# The two commands: `make run` (the app, its worker and the embedded database, demo data loaded)
# and `make test` (lint, migration check, the whole test suite). Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PORT
# Everything here is the local demo or its checks: DEBUG on unless the caller says otherwise. A production host
# runs `manage.py` / gunicorn with DEBUG unset (and SECRET_KEY, ALLOWED_HOSTS, VECTOROS_ENCRYPTION_KEYS set).
DEBUG ?= true
export DEBUG

.PHONY: run test bootstrap install lint migrate demo bench typecheck drill api-contract

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

bootstrap: migrate

demo: bootstrap
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py sync_schedules

run: demo
	$(BIN)/python manage.py run --port $(PORT)

# ruff, the declared app order (import-linter, [tool.importlinter] in pyproject.toml), mypy, migrations in step.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy vectoros tenancy crm forecasting scoring similarity alerts ops audit customers sync capture collab insights
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=vectoros.settings_lint $(BIN)/python manage.py lintmigrations --quiet ok ignore

test: lint
	$(BIN)/python -m pytest

bench: bootstrap
	$(BIN)/python manage.py bench_forecast --deals 5000 --sims 10000 --json

# mypy with django-stubs over the app code alone (also part of `make lint` and `make test`).
typecheck: install
	$(BIN)/mypy vectoros tenancy crm forecasting scoring similarity alerts ops audit customers sync capture collab insights

# The production drill, not part of `make test` (minutes): PostgreSQL + Redis + nginx + 2 web + 2 workers on
# 127.0.0.1, locust load, a worker SIGKILL and two restarts; prints one JSON summary (deploy/drill/drill.py).
# Shorter: DRILL_USERS=10 DRILL_SECONDS=90 make drill. Installs redis-server and nginx with apt-get when missing.
drill: install
	@command -v redis-server >/dev/null && command -v nginx >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server nginx >/dev/null; }
	$(BIN)/python deploy/drill/drill.py

# The REST API's contract at full size (not part of `make test`, which runs a bounded schemathesis in
# tests/test_api_contract.py): schemathesis over every operation of the seeded demo, 50 examples each, all phases,
# at most 20 minutes; prints its summary. API_CONTRACT_EXAMPLES=10 API_CONTRACT_SECONDS=300 make api-contract.
api-contract: demo
	$(BIN)/python deploy/api_contract/run.py
