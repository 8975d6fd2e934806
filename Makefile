# Two commands are the contract (see README):
#   make review   build the whole review on a fresh machine (own virtual environment)
#   make test     run all tests
# Needs only Python 3.11 and make; everything else is installed from requirements.lock.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: review test venv reference bench clean

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

# Regenerate the metafor reference values (tests read the committed JSON; CI needs no R).
reference:
	@if command -v Rscript >/dev/null 2>&1; then \
		Rscript tests/reference/engine_reference.R && Rscript tests/reference/diag_reference.R; \
	else \
		echo "Rscript not found: skipping the metafor reference regeneration (tests use the committed JSON)."; \
	fi

bench: $(STAMP)
	$(PY) benchmarks/bench_build.py

clean:
	rm -rf $(VENV) build
