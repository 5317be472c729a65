# hf_recipes — every target is self-contained on a fresh clone: the first one that needs Python creates
# .venv and installs exactly what requirements.lock pins (CPU torch pinned apart, so no CUDA wheels are pulled;
# override TORCH=).
#
#   make quickstart                       the main job, offline, on a built-in default
#   make test                             the test suite, on the locked versions (what CI runs first)
#   make test-latest [PINS="pkg==X.Y"]    the suite in a throwaway venv with the newest releases inside the
#                                         ranges of pyproject.toml (CI runs it second); PINS tries others
#   make lock                             re-resolve requirements.lock from pyproject.toml
#   make pretrain RECIPE=<name|path> [DATA_DIR=dir] [OUTPUT_DIR=dir] [ACCELERATE=<config>] [ARGS="key=value ..."]
#   make finetune TASK=<task|path>   [MODEL=dir|hub-id] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ACCELERATE=<config>] [ARGS="key=value ..."]
#   make transfer TASK=<task>        [MODEL=dir] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS="key=value ..."]   pretrained vs scratch
#   make push OUTPUT=<dir> REPO=<namespace/name> [ARGS="--private --revision BRANCH"]
#   make bench [DATA_DIR=dir] [ARGS="--only step_time"]   measured numbers, saved under benchmarks/results/
#
# ACCELERATE=<name|path> runs the job under `accelerate launch --config_file ...`: a name is
# recipes/accelerate/<name>.yaml (multi_gpu, fsdp, cpu_2proc).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PIP ?= pip==26.3
LOCK := requirements.lock
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The extras CI installs and tests: dev (pytest, ruff), korean (kiwipiepy, for tokenizer.morphemes: kiwi) and
# tensorboard (training logs by default when it is installed).
EXTRAS := dev,korean,tensorboard,peft
comma := ,
LATEST_VENV ?= .venv-latest

# Optional arguments of the run targets, passed through only when set.
RUN_FLAGS = $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(OUTPUT_DIR),--output-dir $(OUTPUT_DIR))
ACCELERATE_CONFIG = $(if $(findstring /,$(ACCELERATE)),$(ACCELERATE),recipes/accelerate/$(ACCELERATE).yaml)
# `hf-recipes`, or the same module under `accelerate launch` once the config file is known to exist.
LAUNCH = $(if $(ACCELERATE),$(BIN)/accelerate launch --config_file $(ACCELERATE_CONFIG) -m hf_recipes,$(BIN)/hf-recipes)

.PHONY: help setup test test-latest lock quickstart pretrain finetune transfer push bench lint clean check-accelerate

help:
	@sed -n 's/^#   //p' Makefile

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(PIP)"
	$(BIN)/python -m pip install --quiet -c $(LOCK) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# A throwaway venv, no lock: pip takes the newest release of every dependency that pyproject.toml allows, so the
# next upstream rename breaks this target before it breaks a user. The versions it tested are in its log (the
# pytest header) and in $(LATEST_VENV)/versions.txt.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet "$(PIP)"
	$(LATEST_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	echo "$(TORCH)" > $(LATEST_VENV)/torch.txt  # torch stays the build TORCH names (CPU here); the rest moves
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/torch.txt -e ".[$(EXTRAS)]" $(PINS)
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/versions.txt
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider tests

# pip-tools resolves pyproject.toml (with the $(EXTRAS) extras) against torch $(TORCH); torch itself stays out of the
# lock (TORCH= chooses the build), its dependencies are in it.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet "$(PIP)" "pip-tools==7.7.0"
	echo "$(TORCH)" > .venv-lock/torch.txt
	.venv-lock/bin/pip-compile --quiet $(foreach extra,$(subst $(comma), ,$(EXTRAS)),--extra $(extra)) --strip-extras --no-emit-index-url --no-emit-find-links \
		--unsafe-package torch --unsafe-package setuptools --unsafe-package pip --no-header \
		-c .venv-lock/torch.txt -o $(LOCK).new pyproject.toml
	{ echo "# Exact versions of every dependency (torch aside: Makefile TORCH=) that CI tested; 'make setup' installs"; \
	  echo "# them. Made by 'make lock' (pip-tools) from pyproject.toml's ranges; do not edit by hand."; \
	  cat $(LOCK).new; } > $(LOCK)
	rm -rf $(LOCK).new .venv-lock

check-accelerate:
	@test -z "$(ACCELERATE)" -o -f "$(ACCELERATE_CONFIG)" || { echo "error: ACCELERATE=$(ACCELERATE): no accelerate config $(ACCELERATE_CONFIG); choose one of: $(basename $(notdir $(wildcard recipes/accelerate/*.yaml)))" >&2; exit 2; }

quickstart: $(STAMP)
	$(BIN)/hf-recipes quickstart $(if $(OUTPUT_DIR),--output-dir $(OUTPUT_DIR)) $(ARGS)

pretrain: $(STAMP) check-accelerate
	@test -n "$(RECIPE)" || { echo "usage: make pretrain RECIPE=<name|path> [DATA_DIR=dir] [OUTPUT_DIR=dir] [ACCELERATE=<config>] [ARGS=\"key=value ...\"]" >&2; exit 2; }
	$(LAUNCH) pretrain $(RECIPE) $(RUN_FLAGS) $(ARGS)

finetune: $(STAMP) check-accelerate
	@test -n "$(TASK)" || { echo "usage: make finetune TASK=<task|path> [MODEL=dir|hub-id] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ACCELERATE=<config>] [ARGS=\"key=value ...\"]" >&2; exit 2; }
	$(LAUNCH) finetune $(TASK) $(if $(MODEL),--model $(MODEL)) $(RUN_FLAGS) $(ARGS)

transfer: $(STAMP)
	@test -n "$(TASK)" || { echo "usage: make transfer TASK=<task> [MODEL=dir] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS=\"key=value ...\"]" >&2; exit 2; }
	$(BIN)/hf-recipes transfer $(TASK) $(if $(MODEL),--model $(MODEL)) $(RUN_FLAGS) $(ARGS)

push: $(STAMP)
	@test -n "$(OUTPUT)" -a -n "$(REPO)" || { echo "usage: make push OUTPUT=<dir> REPO=<namespace/name> [ARGS=\"--private --revision BRANCH\"]" >&2; exit 2; }
	$(BIN)/hf-recipes push $(OUTPUT) $(REPO) $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check hf_recipes tests
	$(BIN)/ruff format --check hf_recipes tests

clean:
	rm -rf $(VENV) $(LATEST_VENV) .pytest_cache .ruff_cache *.egg-info
