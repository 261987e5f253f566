VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: gui test bench setup setup-test screenshots

# Set up (system packages, venv, package) and open the desktop app with the bundled model.
gui: setup
	$(VENV)/bin/speechrnn-gui

# Set up everything the tests need and run the whole test suite (what CI runs).
test: setup-test
	$(MAKE) screenshots
	$(PY) -m pytest -q -rs

# Full benchmark suite on this machine (about 20 min on 2 cores): bench/results/ and BENCHMARKS.md.
bench: setup-test
	$(PY) -m bench.run --update-benchmarks

# A PNG of every panel under a virtual X screen (Xvfb), as a user would see it.
screenshots: setup-test
	xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb $(PY) -m gui.screenshots $${SCREENSHOT_DIR:-shots}

setup:
	.ci/setup app

setup-test:
	.ci/setup test
