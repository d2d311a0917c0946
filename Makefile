# `make run` and `make test` build everything they need from a bare machine.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
# Tests train with one torch thread each, so a worker per core (up to 4) runs the suite in
# about half the time on two cores (pytest-xdist).
WORKERS := -n auto --maxprocesses 4 --dist worksteal

.PHONY: run test test-fast test-engine lint wheel-check theory bench screenshots sysdeps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# System libraries Qt needs, Xvfb, and Debian's real Fashion-MNIST (skipped where apt is absent).
sysdeps:
	bash .ci/sysdeps.sh

run: $(STAMP)
	$(VENV)/bin/vigui

# Everything: the lint gate, the whole suite offscreen, the installed wheel.
test: sysdeps $(STAMP) lint
	QT_QPA_PLATFORM=offscreen $(PYTEST) $(WORKERS)
	bash .ci/wheel_check.sh $(PY)

# The engine alone, without Qt (pytest-qt not even loaded): the numbers, the trainers, the CLI.
test-engine: $(STAMP)
	$(PYTEST) $(WORKERS) -p no:pytestqt -m "not slow" tests/engine

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PYTEST) $(WORKERS) -m "not slow"

# ruff on everything, mypy on the engine, the import contracts (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy engine
	$(VENV)/bin/lint-imports

# The wheel installed (not editable) in a fresh venv: every page opens with its theory text.
wheel-check: $(STAMP)
	bash .ci/wheel_check.sh $(PY)

bench: $(STAMP)
	$(PY) bench/cavi.py
	$(PY) bench/vae.py

# Pre-render the theory panels' formulas after editing resources/theory/*.html.
theory: $(STAMP)
	$(PY) -m vigui.theory.view

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/vigui --screenshot docs/screens

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
