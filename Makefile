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
RUNTIME_STAMP := $(VENV)/.tcfd-runtime
RUNTIME_INPUTS := requirements-runtime.txt constraints.txt setup.py setup.cfg package.xml
INSTALL_INPUTS := requirements.txt $(RUNTIME_INPUTS)
# --no-compile: pip would byte-compile every module it installs (~80 s of one core for torch and the rest);
# Python compiles each module instead the first time it is imported and keeps the .pyc (importing torch
# the first time: ~7 s more, once). Keeping them needs PYTHONDONTWRITEBYTECODE unset for what make runs:
# some environments set it (this workplace does), and then every process would compile torch again
# (make test 10 -> 15 min).
PIP := $(PY) -m pip --no-input --disable-pip-version-check
INSTALL := $(PIP) install --quiet --no-compile
unexport PYTHONDONTWRITEBYTECODE
PYTEST_ARGS ?= -q

.PHONY: setup runtime test lint demo model model-pipeline model-calibrate harvest bench clean-venv

# setup: everything (training, the test suite: PyTorch's several GB). runtime: what the node graph, bringup,
# replay, simulate and the demo need (requirements-runtime.txt, no PyTorch; ~30 s instead of ~2 min). A full
# set-up is also a runtime one; a runtime one is completed by the next `make setup` / `make test`.
setup: $(STAMP)
runtime: $(RUNTIME_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# $(call install_from,REQUIREMENTS): the locked requirements, then the package itself. pip and setuptools are
# pinned in the lock too (pip freeze leaves them out; they are added by hand).
define install_from
	$(INSTALL) -c constraints.txt pip setuptools
	$(INSTALL) -r $(1) -c constraints.txt
	$(INSTALL) --no-deps --no-build-isolation -e .
endef

$(STAMP): $(INSTALL_INPUTS) | $(PY)
	$(call install_from,requirements.txt)
	@touch $(RUNTIME_STAMP) $(STAMP)

$(RUNTIME_STAMP): $(RUNTIME_INPUTS) | $(PY)
	$(call install_from,requirements-runtime.txt)
	@touch $(RUNTIME_STAMP)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# flake8 with setup.cfg's settings (110 columns), as test/test_lint.py and ament_flake8 run it.
lint: setup
	$(PY) -m flake8 tcfd_ros training launch test benchmarks

demo: runtime
	$(PY) -m tcfd_ros.demo

# The shipped reference model (models/tcfd_sim.pt + .onnx, models/MODEL_CARD.md): simulate its data set
# (257 people walking in 8 directions, half of the sequences from pole / robot mountings, ~26 CPU-min,
# ~15 min on 2 cores), train training/configs/reference_cpu.yaml from scratch as two processes of one
# thread each (DDP over gloo, well under an hour on 2 cores; a progress line with the loss and the ETA every
# 15 s), fine-tune it on the pipeline's own tracklets and take it half way back (model-pipeline, below),
# calibrate on its held-out people, then where the recognizer decides (model-calibrate), export.
# CPU only; the measured times are in models/MODEL_CARD.md and RESULTS.md.
REF_DATA := out/sim_reference
REF_RUN := out/train/reference_cpu
model: setup
	$(PY) -m tcfd_ros simulate dataset --out $(REF_DATA) --identities 257 --views 0,45,90,135,180,225,270,315 \
		--conditions nm,bg --frames 20 --lidar hdl64 --seed 31337 --train-fraction 0.997 --mixed-mounting 0.5 \
		--workers 2 --force
	rm -rf $(REF_RUN)
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --standalone --nproc_per_node 2 -m tcfd_ros train \
		--config training/configs/reference_cpu.yaml
	$(MAKE) model-pipeline
	$(MAKE) model-calibrate

# The fine-tune on the pipeline's own tracklets (training/configs/reference_cpu_pipeline.yaml; RESULTS.md,
# "Fine-tuned on the pipeline's own tracklets, half way back"): the 52 disjoint bags of 6 people the shipped
# model learnt from (seeds below, ids 3000+, 90 s) are simulated and replayed with --record (make harvest,
# ~2.5 min a bag: ~2 h 10 min), their labelled tracks added to $(REF_DATA) (`tcfd-ros simulate tracklets`),
# and the reference model fine-tuned on both (1600 iterations, ~10 min on 2 quiet cores) and taken half way
# back to its own weights. Needs $(REF_RUN)/model.pt (make model trains it first).
PIPE_SEEDS := 11041 17635 18115 21544 27643 40415 42691 48613 55993 67523 80869 86510 91235 92682 98947 99171 \
	12187 17317 23223 29096 42552 61274 67723 69102 73394 86031 93935 99238 16653 21077 25595 27568 43375 64631 \
	88182 98841 13043 13573 73713 79148 90453 91861 92476 96907 18906 34585 38250 56873 57127 86783 88927 95981
PIPE_OUT := out/harvest_pipeline
PIPE_RUN := out/train/reference_cpu_pipeline
model-pipeline: setup
	$(MAKE) harvest HARVEST_SEEDS="$(PIPE_SEEDS)" HARVEST_OUT=$(PIPE_OUT) HARVEST_PEOPLE=6 HARVEST_DURATION=90 \
		HARVEST_FIRST_ID=3000
	$(PY) -m tcfd_ros simulate tracklets $(addprefix $(PIPE_OUT)/h,$(PIPE_SEEDS)) --out $(REF_DATA)
	rm -rf $(PIPE_RUN)
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --standalone --nproc_per_node 2 -m tcfd_ros train \
		--config training/configs/reference_cpu_pipeline.yaml

# The shipped model's operating point where the recognizer decides (RESULTS.md, "Gait and cues as one
# likelihood ratio"): four disjoint bags of 8 people no test uses (seeds 42001-42004, ids 6000+) replayed
# with --record (make harvest), then `tcfd-ros calibrate` fits how walking speed and stature weigh against
# gait and sets the track threshold at 3 % of the impostor track pairs, and the model is exported.
# ~20 min on 2 cores; the replays stay in $(CAL_OUT) (recorded without their annotated images: ~0.1 GB each).
CAL_SEEDS := 42001 42002 42003 42004
CAL_OUT := out/calibration
CAL_TARGET_FMR := 0.03
model-calibrate: setup
	$(MAKE) harvest HARVEST_SEEDS="$(CAL_SEEDS)" HARVEST_OUT=$(CAL_OUT) HARVEST_FIRST_ID=6000
	$(PY) -m tcfd_ros calibrate --checkpoint $(PIPE_RUN)/model.pt --replays $(addprefix $(CAL_OUT)/h,$(CAL_SEEDS)) \
		--target-fmr $(CAL_TARGET_FMR) --out models/tcfd_sim.pt
	$(PY) -m tcfd_ros export --checkpoint models/tcfd_sim.pt --format onnx --out models/tcfd_sim.onnx

# The pipeline's own tracks as data (README, "Training on the pipeline's own tracklets"; RESULTS.md,
# "Fine-tuning on the pipeline's tracklets"): per seed, a disjoint bag of people no test uses is
# simulated, replayed through the node graph with --record, and dropped (it takes several GB); the replay
# stays in $(HARVEST_OUT)/h<seed> (recorded without the annotated images, which neither reader needs: ~0.1 GB
# instead of ~2 GB) for `tcfd-ros simulate tracklets` (training data) and
# `tcfd-ros calibrate` (a pipeline-level threshold). ~3.5 min a seed on 2 cores. Pick seeds nobody
# evaluates on: `make harvest HARVEST_SEEDS="41001 41002"`.
HARVEST_SEEDS ?= 41001 41002 41003 41004 41005 41006
HARVEST_OUT ?= out/harvest
HARVEST_PEOPLE ?= 8
HARVEST_DURATION ?= 120
HARVEST_FIRST_ID ?= 5000
harvest: setup
	@mkdir -p $(HARVEST_OUT); for s in $(HARVEST_SEEDS); do \
		bag=$(HARVEST_OUT)/bag-$$s; rep=$(HARVEST_OUT)/h$$s; \
		$(PY) -m tcfd_ros simulate bag --out $$bag --storage mcap --people $(HARVEST_PEOPLE) \
			--duration $(HARVEST_DURATION) --seed $$s --layout disjoint --first-id $(HARVEST_FIRST_ID) --lidar hdl64 --force \
			> /dev/null || exit 1; \
		echo "h$$s:"; $(PY) -m tcfd_ros replay $$bag --fast --no-progress --out $$rep \
			--record $$rep/outputs.mcap --record-exclude '.*/annotated' 2> $$rep.log | grep -E "^(PASS|FAIL|NO VERDICT)|hand-off:"; \
		rc=$${PIPESTATUS[0]}; rm -rf $$bag; [ $$rc -eq 0 ] || { tail -3 $$rep.log; exit $$rc; }; \
	done

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
