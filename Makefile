# Two commands do all the set-up: `make run` and `make test`. Everything installs from
# constraints.txt into .venv, so a fresh machine needs only python3.11 and network access to PyPI.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint format constraints clean

install: $(INSTALLED)

$(INSTALLED): requirements.in requirements-dev.in constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "uv==$$(sed -n 's/^uv==//p' constraints.txt)"
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.in -c constraints.txt
	touch $@

run: install
	PYTHONPATH=plugins:. $(PY) scripts/run_deploy.py

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	PYTHONPATH=plugins:. $(VENV)/bin/lint-imports
	$(PY) -m pytest

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

constraints: $(VENV)/bin/python
	$(UV) pip compile requirements-dev.in uv-bootstrap.in --python-version 3.11 --quiet -o constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
