VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: gui test bench setup setup-test screenshots

# Set up (system packages, venv, package) and open the desktop app with the bundled model.
gui: setup
	$(VENV)/bin/speechrnn-gui

# Set up everything the tests need and run the whole test suite (what CI runs).
test: setup-test
	$(PY) -m pytest -q -rs

# Full benchmark suite on this machine (writes bench/results/ and prints the table).
bench: setup-test
	$(PY) -m bench.run

setup:
	.ci/setup app

setup-test:
	.ci/setup test
