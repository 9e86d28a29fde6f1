# `make run` and `make test` work on a fresh clone: each installs what it needs first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock
# $(call APT_INSTALL,package): Debian's package, where apt-get can run (as root); the package
# index is refreshed only when the install from the one at hand fails. False otherwise.
APT_INSTALL = { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	&& { apt-get install -y -qq $(1) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $(1) >/dev/null; }; }; }

# lint: ruff, mypy and the import contracts; `make test` (so CI) runs it first.
.PHONY: run lint test verify install install-dev browser redis-server nginx lock schema clean contract-tools

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(PIP) .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) ".[dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The background worker (mail, docs/operations.md) runs beside gunicorn, in a session of its own
# so that Ctrl-C reaches gunicorn alone: when gunicorn exits, for any reason, the worker gets one
# TERM and finishes the task in hand (a second signal would cut it short) before make returns.
WORKER := $(PY) -c 'import os, sys; os.setsid(); os.execv(sys.executable, [sys.executable, "manage.py", "db_worker", "--no-reload"])'

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Serving on http://$${HOST:-127.0.0.1}:$${PORT:-8000}/ (API docs at /api/docs/) with a background worker" \
		"and the development settings (config.settings.local; a server started any other way uses production's);" \
		"Ctrl-C stops both."
	$(WORKER) & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; trap 'exit 130' INT TERM; \
	DJANGO_SETTINGS_MODULE=config.settings.local $(VENV)/bin/gunicorn --config config/gunicorn_conf.py config.wsgi

# Browser tests drive a real Chromium. CI has no internet access, so Debian's package comes
# first (installed when apt-get can run), then Playwright's download; never a silent skip.
CHROMIUM_OF_PLAYWRIGHT = $(PY) -c 'from playwright.sync_api import sync_playwright as s; p = s().start(); print(p.chromium.executable_path); p.stop()'

browser: install-dev
	@if [ -n "$$CHROMIUM_PATH" ]; then path="$$CHROMIUM_PATH"; \
	elif [ -x /usr/bin/chromium ]; then path=/usr/bin/chromium; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then path=/usr/bin/chromium; \
	elif $(VENV)/bin/playwright install chromium; then path="$$($(CHROMIUM_OF_PLAYWRIGHT))"; \
	else echo "No Chromium for the browser tests. Install Debian's (sudo apt-get install chromium)," \
		"or where the internet is reachable run .venv/bin/playwright install chromium," \
		"or set CHROMIUM_PATH=/path/to/chromium." >&2; exit 1; fi; \
	mkdir -p var && echo "$$path" > var/chromium-path && echo "Browser tests use $$path"

# The key-cache tests (and `make verify`, where no Redis answers) start a Redis of their own
# (tests/redis_server.py): Debian's redis-server, installed when missing and apt-get can run;
# a machine with no Redis running passes all the same.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || $(call APT_INSTALL,redis-server) \
		|| { echo "The key-cache tests need redis-server: sudo apt-get install redis-server (macOS: brew install redis)." >&2; exit 1; }

# Redocly's linter judges the OpenAPI schema in the tests (tests/config/test_redocly.py), and
# axe-core and Lighthouse the dashboard's accessibility (tests/browser/test_accessibility.py): from
# npm, pinned by package-lock.json, into node_modules/; installed when missing or changed,
# with Debian's npm first where none is installed and apt-get can run. From npm's cache when it
# holds the locked version (its integrity is in the lock file), so an offline rerun does not stall.
NPM_TOOLS := node_modules/.bin/redocly node_modules/.bin/lighthouse node_modules/axe-core/axe.min.js

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || $(call APT_INSTALL,npm) \
		|| { echo "The schema lint and the accessibility tests need npm (Node.js): sudo apt-get install npm" \
		"(macOS: brew install node), then run make test again." >&2; exit 1; }
	npm ci --prefer-offline --ignore-scripts --no-audit --no-fund
	touch $@

# A stamp, not the tools themselves, so that one npm ci brings them all (and a tool added to
# package.json later is installed by the next make test).
contract-tools: node_modules/.installed
	@for tool in $(NPM_TOOLS); do [ -e "$$tool" ] || { echo "npm ci did not install $$tool" >&2; exit 1; }; done

# ruff; mypy with django-stubs and djangorestframework-stubs ([tool.mypy] in pyproject.toml),
# strict on the services, the selectors and the verification core; the import contracts.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# On every core (pytest-xdist, at most 4 workers: more only crowd the gunicorn and Chromium
# tests); the suite takes 5 minutes on 2 cores where it took 13 on one. `pytest` alone runs it
# on one, which suits a single file.
XDIST = -n auto --maxprocesses=4

test: lint install-dev browser redis-server contract-tools
	CHROMIUM_PATH="$$(cat var/chromium-path)" $(PY) -m pytest $(XDIST)

# The verify suite's live parts start a PostgreSQL of their own (tests/postgres_server.py) where
# none answers: Debian's postgresql, installed when initdb is missing and apt-get can run.
.PHONY: postgres-server
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| $(call APT_INSTALL,postgresql) \
		|| { echo "The verify suite needs PostgreSQL's initdb: sudo apt-get install postgresql (macOS: brew install postgresql)." >&2; exit 1; }

# Part 12 of the reliability suite puts Debian's nginx, with TLS, in front of gunicorn
# (tests/nginx_server.py): installed when missing and apt-get can run, else a clear failure.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || $(call APT_INSTALL,nginx) \
		|| { echo "The TLS proxy tests need nginx: sudo apt-get install nginx (macOS: brew install nginx)." >&2; exit 1; }

# The reliability suite (docs/reliability.md): fuzzing, the isolation matrix, real gunicorn
# under concurrency and load, a PostgreSQL and a Redis of its own stopped mid-run, hostile input,
# nginx and Chromium over TLS, docs/deploy.md followed on a clean clone, and a scan for leaked
# keys; it prints a summary table at the end. With no PostgreSQL or Redis answering on the
# machine, it starts its own, so it passes on a bare machine.
verify: install-dev browser nginx postgres-server redis-server
	CHROMIUM_PATH="$$(cat var/chromium-path)" $(PY) -m pytest -m verify tests/verify

lock:
	$(PY) -m pip freeze --exclude keyhouse > requirements.lock.new
	( sed -n 1,2p requirements.lock; cat requirements.lock.new ) > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

clean:
	rm -rf $(VENV) var node_modules

# Load and analytics benchmark (docs/benchmarks.md): wrk from Debian when apt-get can install
# it, else the bench's own Python load generator.
.PHONY: bench
bench: install-dev
	@command -v wrk >/dev/null 2>&1 || $(call APT_INSTALL,wrk) \
		|| echo "wrk is not installed and apt-get cannot install it: using the Python load generator."
	$(PY) -m tests.bench.run

# Instructions per request in process, counted by callgrind (docs/benchmarks.md, "Instructions").
.PHONY: bench-instructions
bench-instructions: install-dev
	@command -v valgrind >/dev/null 2>&1 || $(call APT_INSTALL,valgrind) \
		|| { echo "valgrind is not installed and apt-get cannot install it."; exit 1; }
	$(PY) -m tests.bench.instructions
