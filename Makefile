# Two commands on a fresh machine with Python 3.11+:  `make demo` and `make test`.
# Each has its own virtual environment, created on first use:
#   .venv-demo  `make demo`: the package alone (editable), with only its own dependencies
#   .venv       `make test`, `lint`, `bench`, `wheel-check`: the package (editable) with
#               the dev and bench extras (pytest, mypy, ruff, Playwright, build, the peers)
PYTHON     ?= python3
VENV       ?= .venv
DEMO_VENV  ?= .venv-demo
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
DEMO_STAMP := $(DEMO_VENV)/.installed
DEMO_ARGS  ?=

.PHONY: demo test lint bench wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/sessionclaims demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks .ci
	$(BIN)/ruff format --check src tests examples benchmarks .ci
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Build the sdist and wheel, install the wheel into a new venv outside the checkout and
# run the README's example there (.ci/wheel_check.py says what it checks).
wheel-check: $(STAMP)
	$(BIN)/python .ci/wheel_check.py

clean:
	rm -rf $(VENV) $(DEMO_VENV)
