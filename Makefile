# The README's two commands: `make run` (main job) and `make test` (the checks CI runs).
# Both are idempotent: an install step re-runs only when pyproject.toml or constraints.txt changes.
#
# Every install is pinned by constraints.txt (the whole dependency set, `make lock` rewrites it).
# `make run` installs no compiler-built package; the local LLM (llama-cpp-python) is an extra:
# `make local` builds it once, portably, into .wheels/ (see LLAMA_CMAKE_ARGS), and `make test`
# includes it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := data/sample
PIP := $(BIN)/pip install -q --constraint constraints.txt
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export ORT_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# llama-cpp-python is built from source: without native CPU flags (a -march=native build
# segfaults in decode on AVX-512/AMX machines), with AVX2/FMA/F16C, so the one wheel runs on
# any x86-64 machine with AVX2. It is built into a folder of this checkout, named by version and
# flags — never into pip's cache, where a wheel built on one CPU would be reused on another.
LLAMA_VERSION := $(shell sed -n 's/^llama[-_]cpp[-_]python==//p' constraints.txt)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DLLAVA_BUILD=OFF
LLAMA_WHEELS := .wheels/llama-cpp-python-$(LLAMA_VERSION)-portable-avx2
LOCAL := --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python

.PHONY: run local test lint typecheck pytest bench system-deps lock
HOST ?= 127.0.0.1
PORT ?= 7860

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch comes first and pinned (the CPU build), so nothing pulls a CUDA build.
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) "torch==2.13.0"
	$(PIP) -e .
	touch $@

$(LLAMA_WHEELS)/.built:
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PYTHON) -m pip wheel -q \
		--no-cache-dir --no-deps --no-binary llama-cpp-python --wheel-dir $(LLAMA_WHEELS) \
		"llama-cpp-python==$(LLAMA_VERSION)"
	touch $@

$(VENV)/.installed-local: $(VENV)/.installed-run $(LLAMA_WHEELS)/.built
	$(PIP) $(LOCAL) -e ".[local]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-local
	$(PIP) $(LOCAL) -e ".[dev,local]"
	touch $@

# Indexes the sample (a no-op when it is current), then serves the chat page on loopback.
run: $(VENV)/.installed-run
	$(BIN)/askpapers ingest $(SAMPLE)
	$(BIN)/askpapers stats
	$(BIN)/askpapers serve --host $(HOST) --port $(PORT)

# Opt in to the local LLM (SmolLM2 through llama.cpp's server): builds llama-cpp-python once.
local:
	$(MAKE) -j2 $(VENV)/.installed-run $(LLAMA_WHEELS)/.built
	$(MAKE) $(VENV)/.installed-local

# Debian's Chromium for the browser tests (never a browser download), strace for the no-network test.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/strace ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver strace; \
	fi

# The base install and the llama.cpp build run side by side (one downloads, one compiles).
$(VENV)/.ready-dev: pyproject.toml constraints.txt
	$(MAKE) -j2 $(VENV)/.installed-run $(LLAMA_WHEELS)/.built
	$(MAKE) $(VENV)/.installed-dev
	touch $@

lint: $(VENV)/.ready-dev
	$(BIN)/ruff check rag ingest ui evals tests bench
	$(BIN)/ruff format --check rag ingest ui evals tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.ready-dev
	$(BIN)/mypy

pytest: $(VENV)/.ready-dev system-deps
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(VENV)/.installed-run
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.chunking
	$(BIN)/python -m bench.query

# Re-resolve the whole dependency set from pyproject.toml's ranges and pin it in constraints.txt
# (in a scratch venv; commit the result after `make test` passes with it). torch is pinned without
# its "+cpu" label: the CPU build satisfies "torch==2.13.0" where it is on disk (this machine's pip
# finds it), and elsewhere PyPI's 2.13.0 does.
lock: $(LLAMA_WHEELS)/.built
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q "torch==2.13.0"
	.venv-lock/bin/pip install -q $(LOCAL) -e ".[dev,local]"
	.venv-lock/bin/pip list --format=freeze --exclude-editable \
		| sed -e 's/^llama_cpp_python==/llama-cpp-python==/' -e 's/^\(torch==[0-9.]*\)+cpu$$/\1/' > constraints.txt
	rm -rf .venv-lock
