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

.PHONY: setup test lint demo model bench clean-venv

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

# The shipped reference model (models/tcfd_sim.pt + .onnx, models/MODEL_CARD.md): simulate its data set
# (257 people walking in 8 directions, half of the sequences from pole / robot mountings, ~26 CPU-min,
# ~15 min on 2 cores), train training/configs/reference_cpu.yaml from scratch as two processes of one
# thread each (DDP over gloo, well under an hour on 2 cores; a progress line with the loss and the ETA every
# 15 s), calibrate, export. CPU only; the measured times are in models/MODEL_CARD.md and RESULTS.md.
REF_DATA := out/sim_reference
REF_RUN := out/train/reference_cpu
model: setup
	$(PY) -m tcfd_ros simulate dataset --out $(REF_DATA) --identities 257 --views 0,45,90,135,180,225,270,315 \
		--conditions nm,bg --frames 20 --lidar hdl64 --seed 31337 --train-fraction 0.997 --mixed-mounting 0.5 \
		--workers 2 --force
	rm -rf $(REF_RUN)
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --standalone --nproc_per_node 2 -m tcfd_ros train \
		--config training/configs/reference_cpu.yaml
	cp $(REF_RUN)/model.pt models/tcfd_sim.pt
	$(PY) -m tcfd_ros export --checkpoint models/tcfd_sim.pt --format onnx --out models/tcfd_sim.onnx

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
