# Two commands on a fresh machine: `make test` and `make demo`. Both set up .venv first.
#
# Set-up is a file target: .venv/.tcfd-installed is newer than every input of the installation
# (dependency list, lock, package metadata), so a second `make test` with nothing changed installs
# nothing. Editing one of those inputs re-runs pip, which only installs what the lock says is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tcfd-installed
INSTALL_INPUTS := requirements.txt constraints.txt setup.py setup.cfg package.xml
PIP := $(PY) -m pip --no-input --disable-pip-version-check
PYTEST_ARGS ?= -q

.PHONY: setup test lint demo bench clean-venv

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip and setuptools are pinned in the lock too (pip freeze leaves them out; they are added by hand).
$(STAMP): $(INSTALL_INPUTS) | $(PY)
	$(PIP) install --quiet -c constraints.txt pip setuptools
	$(PIP) install --quiet -r requirements.txt -c constraints.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# flake8 with setup.cfg's settings (110 columns), as test/test_lint.py and ament_flake8 run it.
lint: setup
	$(PY) -m flake8 tcfd_ros training launch test benchmarks

demo: setup
	$(PY) -m tcfd_ros.demo

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
