# hf_recipes — every target is self-contained on a fresh clone: the first one that needs Python creates
# .venv and installs the package into it (CPU torch pinned so no CUDA wheels are pulled; override TORCH=).
#
#   make quickstart                       the main job, offline, on a built-in default
#   make test                             the test suite
#   make pretrain RECIPE=<name|path> [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS="key=value ..."]
#   make finetune TASK=<task|path>   [MODEL=dir|hub-id] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS="key=value ..."]
#   make transfer TASK=<task>        [MODEL=dir] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS="key=value ..."]   pretrained vs scratch
#   make push OUTPUT=<dir> REPO=<namespace/name> [ARGS="--private --revision BRANCH"]
#   make bench [DATA_DIR=dir] [ARGS="--only step_time"]   measured numbers, saved under benchmarks/results/

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Optional arguments of the run targets, passed through only when set.
RUN_FLAGS = $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(OUTPUT_DIR),--output-dir $(OUTPUT_DIR))

.PHONY: help setup test quickstart pretrain finetune transfer push bench lint clean

help:
	@sed -n 's/^#   //p' Makefile

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

quickstart: $(STAMP)
	$(BIN)/hf-recipes quickstart $(if $(OUTPUT_DIR),--output-dir $(OUTPUT_DIR)) $(ARGS)

pretrain: $(STAMP)
	@test -n "$(RECIPE)" || { echo "usage: make pretrain RECIPE=<name|path> [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS=\"key=value ...\"]" >&2; exit 2; }
	$(BIN)/hf-recipes pretrain $(RECIPE) $(RUN_FLAGS) $(ARGS)

finetune: $(STAMP)
	@test -n "$(TASK)" || { echo "usage: make finetune TASK=<task|path> [MODEL=dir|hub-id] [DATA_DIR=dir] [OUTPUT_DIR=dir] [ARGS=\"key=value ...\"]" >&2; exit 2; }
	$(BIN)/hf-recipes finetune $(TASK) $(if $(MODEL),--model $(MODEL)) $(RUN_FLAGS) $(ARGS)

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
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
