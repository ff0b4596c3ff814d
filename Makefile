# The few commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
PIP_COMPILE := $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe

.PHONY: help run demo-codes test lint typecheck unit screenshots compose-check secrets lock clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Accord needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-installed: requirements.txt | $(BIN)/python
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) -r requirements.txt -r requirements-dev.txt
	@touch $@ $(VENV)/.run-installed

run: export ACCORD_PUBLIC_URL ?= http://localhost:$(PORT)
run: $(VENV)/.run-installed  ## install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Accord is starting at http://localhost:$(PORT)/  (web, worker and beat; Ctrl-C stops all three)"
	@echo "Open it as localhost, not 127.0.0.1: passkeys refuse an IP address. Second factor: make demo-codes"
	PATH="$(CURDIR)/$(BIN):$$PATH" ACCORD_PORT=$(PORT) exec $(BIN)/honcho --no-colour -f Procfile start

demo-codes: $(VENV)/.run-installed  ## the codes the demo people's authenticators show now (their second factor)
	@$(BIN)/python manage.py demo_codes

test: lint typecheck unit  ## install, then run ruff, mypy and the test suite

lint: $(VENV)/.dev-installed  ## ruff (lint and format check) and import-linter (the layers in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.dev-installed  ## mypy with django-stubs
	$(BIN)/mypy .

# Tests keep their files (cache, broker folders, generated dev secrets) apart from a running `make run`.
unit: $(VENV)/.dev-installed  ## the pytest suite (PostgreSQL and Redis tests run when DATABASE_URL / REDIS_URL are set)
	ACCORD_VAR_DIR=$(CURDIR)/var/test $(BIN)/pytest $(PYTEST_ARGS)

screenshots: $(VENV)/.dev-installed  ## draw the docs' screenshots again (docs/screenshots/) in Chromium
	ACCORD_VAR_DIR=$(CURDIR)/var/test ACCORD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots \
		$(BIN)/pytest -q tests/e2e/test_screenshots.py

compose-check:  ## validate docker-compose.yml offline (needs Debian's docker-compose)
	docker-compose -f docker-compose.yml config -q

secrets:  ## write the secret files docker-compose.yml reads (./secrets/, git-ignored; existing ones are kept)
	@mkdir -p secrets && chmod 700 secrets
	@umask 077; py='import secrets,sys; print(secrets.token_urlsafe(int(sys.argv[1])))'; \
	for name in django_secret_key:50 audit_signing_key:32 kek:32 postgres_password:24; do \
	  file=secrets/$${name%%:*}; [ -s $$file ] || $(PYTHON) -c "$$py" $${name##*:} > $$file; done; \
	[ -s secrets/database_url ] || echo "postgres://accord:$$(cat secrets/postgres_password)@postgres:5432/accord" > secrets/database_url
	@ls secrets

lock: | $(BIN)/python  ## re-pin requirements*.txt from requirements*.in
	$(PIP) pip-tools
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in

clean:  ## remove the virtual environment and everything under var/ (the embedded database included)
	rm -rf $(VENV) var
