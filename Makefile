# Two commands: `make demo` and `make test`. Each creates .venv if missing and installs what it needs.
PYTHON ?= python3
# bash with pipefail, so a recipe `cmd | tee log` fails when cmd fails
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# PyTorch is pinned to the CPU build available here; a looser pin pulls several GB of CUDA wheels.
# On a GPU machine install torch for your CUDA first, then `pip install -e ".[diffusion,gpu]"`.
TORCH_CPU ?= 2.13.0
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
# Flags appended to the training commands of `make model*` (a flag given twice: the last wins),
# e.g. the conditional model on a GPU, longer and in larger batches:
# `make model-conditional TRAIN_FLAGS="--device cuda --batch-size 32 --steps 40000 --workers 16"`.
TRAIN_FLAGS ?=

# The synthetic-planet prior: `make model` retrains it (about 50 min on one CPU core),
# calibrates its spread and installs the weights and model card into the package as the
# shipped model "synthetic" (model="synthetic"; it was the default model until the
# conditional model took its place). One thread, so the weights reproduce. It still trains
# into build/model/default, the folder its card's training command names.
MODEL_ARGS := --data synthetic --resolution 4 --months 240 --steps 20000 --batch-size 8 \
	--windows 2 --lr 3e-4 --checkpoint-every 2000 --log-every 250

# The world prior: `make model-world` trains the same network on 240 months of the training
# world (the real planet, xdepthdif.prior.world) from 1981-01, as anomalies about the shipped
# climatology, calibrates its spread on 16 months of the world's validation split (observed at
# 3 % and 7.5 % of the columns, pooled) and installs it as the shipped model "world"
# (model="world").
WORLD_ARGS := --data world --resolution 4 --months 240 --steps 10000 --batch-size 8 \
	--windows 2 --lr 3e-4 --checkpoint-every 2000 --log-every 250

# The conditional model: `make model-conditional` builds a pool of 240 months of the training
# world at 4°, each observed twice (Argo-like profiles, binned, the default OI with one
# covariance fit per band of observed shares; a satellite SST in half the samples), trains the
# conditional network on it to model the OI's error in units of its own standard deviation
# (8000 steps, about an hour on one busy CPU core with the pool), calibrates its spread at 3,
# 5 and 10 steps on 16 months of the world's validation split (as the world prior's), and that
# of its members downscaled onto a global 1° grid on the same months at 1°, observed in 1, 3,
# 7.5 and 20 % of the columns (about 20 minutes),
# and installs it as the shipped model "conditional" (model="conditional", which
# model="default" names). The pool is kept in build/model/conditional-pool.npz.
CONDITIONAL_ARGS := --kind conditional --data world --resolution 4 --months 240 --fit band \
	--loss edm --target oi-residual --draws 2 --sst 0.5 --steps 8000 --batch-size 8 \
	--lr 3e-4 --log-every 250 --pool build/model/conditional-pool.npz

.PHONY: climatology demo docs test lint format clean model model-world model-conditional skill \
	oi-evidence realism slurm

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PIP_INSTALL) "torch==$(TORCH_CPU)"
	$(PIP_INSTALL) -e ".[test,demo,diffusion,docs]"
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(VENV)/bin/xdepthdif demo --out demo_output

test: $(STAMP) slurm
	$(VENV)/bin/ruff check xdepthdif tests benchmarks
	$(VENV)/bin/ruff format --check xdepthdif tests benchmarks
	$(PY) -m pytest -q xdepthdif tests README.md docs
	cd benchmarks && ../$(VENV)/bin/asv check -E existing:../$(PY)
	$(MAKE) docs

# tests/test_slurm.py starts a one-node SLURM of its own (daemons, configuration and state in a
# temporary directory) and runs the SLURM recipe of docs/cluster.md on it. This installs what it
# needs, Debian's slurm-wlm and munge, when a tool is missing: as root, with apt-get (CI runs as
# root on Debian). Anyone else gets a message, and the test skips naming what is missing. The
# test never uses the system's /etc/slurm or /etc/munge.
SLURM_TOOLS := munged slurmctld slurmd sbatch squeue sinfo scancel

slurm:
	@PATH="$$PATH:/usr/sbin:/sbin"; missing=""; \
	for tool in $(SLURM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make slurm: missing$$missing; installing slurm-wlm and munge needs root and apt-get:" \
			"skipped, and tests/test_slurm.py will skip"; \
		exit 0; \
	fi; \
	echo "make slurm: missing$$missing; installing Debian's slurm-wlm and munge"; \
	export DEBIAN_FRONTEND=noninteractive; \
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }; then \
		echo "make slurm: apt-get could not install slurm-wlm and munge"; \
		[ -z "$$CI" ]; \
	fi

# The docs site, tutorials executed (cached in docs/_build/.jupyter_cache), warnings as errors.
# Open docs/_build/html/index.html.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

model: $(STAMP)
	mkdir -p build/model
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif train $(MODEL_ARGS) $(TRAIN_FLAGS) --out build/model/default \
		| tee build/model/train.log
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif calibrate --model build/model/default.safetensors \
		| tee -a build/model/train.log
	cp build/model/default.safetensors xdepthdif/data/models/synthetic.safetensors
	cp build/model/default.json xdepthdif/data/models/synthetic.json

model-world: $(STAMP)
	mkdir -p build/model
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif train $(WORLD_ARGS) $(TRAIN_FLAGS) --out build/model/world \
		| tee build/model/world-train.log
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif calibrate --model build/model/world.safetensors \
		--steps 3 5 10 | tee -a build/model/world-train.log
	cp build/model/world.safetensors build/model/world.json xdepthdif/data/models/

model-conditional: $(STAMP)
	mkdir -p build/model
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif train $(CONDITIONAL_ARGS) $(TRAIN_FLAGS) \
		--out build/model/conditional | tee build/model/conditional-train.log
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif calibrate --model build/model/conditional.safetensors \
		--steps 3 5 10 | tee -a build/model/conditional-train.log
	OMP_NUM_THREADS=1 $(VENV)/bin/xdepthdif calibrate --model build/model/conditional.safetensors \
		--downscaled --resolution 1 --fractions 0.01 0.03 0.075 0.2 | tee -a build/model/conditional-train.log
	cp build/model/conditional.safetensors build/model/conditional.json xdepthdif/data/models/

skill: $(STAMP)
	$(PY) benchmarks/skill.py

# The OI's evidence: level-mean OI, climatology, default OI and the truth-tuned ceiling on every
# truth, and the global 1° plausibility run (about 20 minutes on 2 cores).
oi-evidence: $(STAMP)
	$(PY) benchmarks/oi_evidence.py

# The training world's anomaly statistics beside real SST anomalies and published values:
# docs/realism/realism.md (a few minutes on 2 cores).
realism: $(STAMP)
	$(PY) benchmarks/realism.py

lint: $(STAMP)
	$(VENV)/bin/ruff check xdepthdif tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format xdepthdif tests benchmarks
	$(VENV)/bin/ruff check --fix xdepthdif tests benchmarks

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache docs/_build docs/generated

# The shipped climatology: rebuilt from Debian's ferret-datasets (NOAA PMEL sample data, public
# domain), downloaded with apt (no install needed) and unpacked into build/ferret.
climatology: $(STAMP)
	mkdir -p build/ferret
	cd build/ferret && (ls ferret-datasets_*.deb >/dev/null 2>&1 || apt-get download ferret-datasets)
	dpkg-deb -x build/ferret/ferret-datasets_*.deb build/ferret/x
	$(PY) -m xdepthdif.sources.atlas_build build/ferret/x/usr/share/ferret-vis/data \
		xdepthdif/data/climatology.nc
