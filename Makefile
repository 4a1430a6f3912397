# The README's two commands: `make run` (main job) and `make test` (the checks CI runs).
# Both are idempotent: the install step re-runs only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := data/sample
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest bench browser
HOST ?= 127.0.0.1
PORT ?= 7860

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed on its own first, pinned, so nothing pulls a CUDA build.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[local]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev,local]"
	touch $@

# Indexes the sample (a no-op when it is current), then serves the chat page on loopback.
run: $(VENV)/.installed-run
	$(BIN)/askpapers ingest $(SAMPLE)
	$(BIN)/askpapers stats
	$(BIN)/askpapers serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (never a browser download).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check rag ingest ui evals tests bench
	$(BIN)/ruff format --check rag ingest ui evals tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev browser
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(VENV)/.installed-run
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/chunking.py
	$(BIN)/python bench/query.py
