# Two commands are the contract (see README):
#   make review   build the whole review on a fresh machine (own virtual environment)
#   make test     run all tests
# Needs only Python 3.11 and make; everything else is installed from requirements.lock.
# Convenience: make lab   JupyterLab (from the lock) on notebooks/, with the project's kernel
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL_NAME := mscreview
KERNEL_DISPLAY := Python 3 (mscreview)
# Jupyter refuses to run as root unless told (containers, CI).
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

.PHONY: review test venv lab reference bench clean

# The venv, then the package (editable), then a Jupyter kernel spec inside the venv
# (.venv/share/jupyter/kernels/mscreview) whose interpreter is .venv/bin/python.
$(STAMP): requirements.lock pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"
	touch $(STAMP)

venv: $(STAMP)

review: $(STAMP)
	$(PY) -m mscreview build

test: $(STAMP)
	$(PY) -m pytest

# JupyterLab on notebooks/ (the file browser can still reach data/, review/, figures/), as Binder opens it.
# Extra options: make lab LAB_ARGS="--no-browser --port 8890"
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

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
