# Two commands are the contract (see README):
#   make review   build the whole review on a fresh machine (own virtual environment)
#   make test     run all tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: review test venv clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

review: $(STAMP)
	$(PY) -m mscreview build

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV)
