# leadgrade — the two commands in the README start here.
# `make demo`: set up and run the product on its embedded default with a synthetic firm.
# `make test`: set up and run the whole test suite, with the lint and type gates.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := test
.PHONY: demo test check lint format typecheck pytest bench bench-ingest bench-handoff bench-batch sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadgrade demo demo-workspace

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=85

bench: $(STAMP)
	$(BIN)/python bench/score_bench.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest_bench.py

bench-batch: $(STAMP)
	$(BIN)/python bench/batch_bench.py

bench-handoff: $(STAMP)
	$(BIN)/python bench/handoff_bench.py

sample: $(STAMP)
	$(BIN)/python scripts/make_sample.py

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .mypy_cache .ruff_cache .coverage
