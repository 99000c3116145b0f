# rime_web: `make run` serves the app with a worker; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test migrate worker clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q -e ".[test]"
	touch $@

var/local.env: | $(VENV)/.installed
	$(PY) scripts/write_local_env.py var/local.env

install: $(VENV)/.installed var/local.env

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo
	@echo "rime_web: open http://$(HOST):$(PORT)/  (Ctrl-C stops the server and the worker)"
	$(PY) scripts/run_dev.py --host $(HOST) --port $(PORT)

worker: install
	$(VENV)/bin/celery -A rime_web worker -l info -Q default,stresstests --pool=prefork -c 2

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf var/broker var/test-* var/media
