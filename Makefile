# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Both create .venv from pyproject.toml when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# torch is installed first and pinned, so that the unpinned `torch` in pyproject.toml is
# already satisfied. On the course machines this pin resolves to a local CPU wheel. For a
# GPU build elsewhere: make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast release validate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --disable-pip-version-check $(TORCH)
	$(BIN)/pip install --disable-pip-version-check -e ".[cluster]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

# Playwright drives the browser test (tests/test_browser.py) and a Dask Gateway server stands in for a
# hub's (tests/test_cluster.py); students never need either.
test: $(STAMP)
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install --disable-pip-version-check -q playwright \
	  || echo "playwright could not be installed: tests/test_browser.py will skip"
	$(BIN)/python -c "import dask_gateway_server" 2>/dev/null || $(BIN)/pip install --disable-pip-version-check -q dask-gateway-server \
	  || echo "dask-gateway-server could not be installed: the gateway:N test will skip"
	$(BIN)/python -m pytest -q --durations=30

# The fast lane: unit tests only, no notebook graded (tests marked slow are left out).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

release: $(STAMP)
	$(BIN)/autograder release

validate: $(STAMP)
	$(BIN)/autograder validate

clean:
	rm -rf $(VENV) demo-output grading-output
