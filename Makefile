# `make run` and `make test` work on a fresh clone: each installs what it needs first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock

.PHONY: run test install install-dev browser lock schema clean

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

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Serving on http://$${HOST:-127.0.0.1}:$${PORT:-8000}/ (API docs at /api/docs/); Ctrl-C stops."
	exec $(VENV)/bin/gunicorn --config config/gunicorn_conf.py config.wsgi

test: install-dev
	$(PY) -m pytest

lock:
	$(PY) -m pip freeze --exclude keyhouse > requirements.lock.new
	( sed -n 1,2p requirements.lock; cat requirements.lock.new ) > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

clean:
	rm -rf $(VENV) var
