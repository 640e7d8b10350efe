# gpuplan — set-up and everyday commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-base
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck bench clean venv chromium fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $@

venv: $(STAMP)

## The main job: the flagship scenario end to end, with its HTML report, then a short tour.
run: $(STAMP)
	mkdir -p out
	$(BIN)/gpuplan plan examples/hyperscaler-20b-loan.yaml -o out/hyperscaler-report.html --xlsx out/hyperscaler.xlsx
	$(BIN)/gpuplan catalog gpus
	$(BIN)/gpuplan fit llama-3.1-8b --gpu h100-sxm --mode inference
	$(BIN)/gpuplan fit llama-3.1-70b --gpu h100-sxm --mode finetune
	$(BIN)/gpuplan fit llama-3.1-70b --gpu h100-sxm --mode qlora
	$(BIN)/gpuplan fit llama-3.1-405b --gpu b200 --mode inference --dtype fp8
	$(BIN)/gpuplan fit deepseek-v3 --gpu h200 --mode train --seq-len 4096 --all-gpus
	$(BIN)/gpuplan train llama-3.1-70b --gpu h100-sxm --gpus 1024 --tokens 2e12 --seq-len 8192
	$(BIN)/gpuplan train deepseek-v3 --gpu h800 --gpus 2048 --tokens 14.8e12 --rent-usd-per-gpu-hour 2
	$(BIN)/gpuplan validate

## Lint, types, then the whole test suite on every core (pytest exit 5 — no tests collected —
## counts as failure). Browser tests need Debian's chromium; it is installed here when missing.
test: $(TSTAMP) chromium lint typecheck
	$(BIN)/python -m pytest -n auto

lint: $(TSTAMP)
	$(BIN)/ruff check src tests tools benchmarks

typecheck: $(TSTAMP)
	$(BIN)/mypy

chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing Debian chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    || echo "chromium could not be installed: browser tests will report it"; }

## Generated CLI invocations and scenario files: no input may end in a traceback. In process,
## 1,000 per chunk over every core (10,000 in ~8 s on 2 cores); `make test` runs the same 10,000
## (tests/test_fuzz.py). More: `$(BIN)/python tools/fuzz.py 50000 7`.
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py 10000

## Benchmarks print figures; they never fail on time.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
