# Tidings: `make run` starts the bot, `make test` runs the whole suite.
# Both create .venv and install everything on first use; later runs reuse it
# (the stamp file below changes only when pyproject.toml does).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.tidings-installed
TORCH  := $(VENV)/.torch-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint typecheck check bench eval reliability cluster clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

# torch first, pinned: an unpinned torch pulls a CUDA build of several GB.
$(TORCH): | $(PY)
	$(PIP) install "torch==2.13.0"
	touch $@

# llama.cpp is compiled for AVX2, not -march=native: on CPUs with AMX its native build crashes
# in the AMX matrix kernel where the kernel does not grant AMX to the process. Override with
# LLAMA_CMAKE_ARGS. pip's wheel cache keeps the compiled wheel, so a fresh venv does not rebuild it.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(STAMP): pyproject.toml $(TORCH)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -e ".[test,eval]"
	touch $@

run: install
	$(VENV)/bin/tidings run

test: install
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check core adapters bots tests bench

typecheck: install
	$(VENV)/bin/mypy core

check: lint typecheck test

bench: install
	$(PY) bench/run_all.py

# The runs behind every figure on docs/quality.md (JSON and charts kept in bench/results/);
# the knowledge bases are kept in .tidings/eval so a rerun skips their embedding.
EVAL := $(VENV)/bin/tidings eval --workdir .tidings/eval --plot bench/results/img
eval: install
	$(EVAL) retrieval --chunk-sizes 200 --output bench/results/eval-retrieval.json
	$(EVAL) retrieval --chunk-sizes 200 --variants bench/data/faq_variants_check.csv --output bench/results/eval-retrieval-check.json
	$(EVAL) refusals --output bench/results/eval-refusals.json
	$(EVAL) refusals --variants bench/data/faq_variants_check.csv --off-topic bench/data/off_topic_check.txt --output bench/results/eval-refusals-check.json
	$(EVAL) answers --sample 100 --output bench/results/eval-answers.json
	$(EVAL) digests --split check --output bench/results/eval-digests-check.json
	$(EVAL) digests --split labels --digest-labels bench/data/digest_labels_check.jsonl --output bench/results/eval-digest-labels-check.json

# PostgreSQL, an S3 server, one model server and $(REPLICAS) replicas on consecutive ports (Ctrl-C stops all).
REPLICAS ?= 2
cluster: install
	REPLICAS=$(REPLICAS) PY=$(PY) config/deploy/local-cluster.sh

reliability: install
	$(PY) -m pytest -q -p no:cacheprovider -m reliability --reliability-report docs/reliability.md

clean:
	rm -rf $(VENV) .tidings .pytest_cache .mypy_cache .ruff_cache
