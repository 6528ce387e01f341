# bcdc-loader: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint ckan-up ckan-down ckan-status bench clean

# The loader's own virtual environment (CKAN lives apart, in .ckan/venv).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

## demo: set everything up, start the local catalogue and load the sample batches
demo: $(STAMP) ckan-up
	@$(BIN)/python dev/demo.py

## test: set everything up, lint, and run the whole test suite (starts the catalogue itself)
test: $(STAMP) lint
	@$(BIN)/python -m pytest

lint: $(STAMP)
	@$(BIN)/ruff check loader tests dev benchmarks sample_batches
	@$(BIN)/ruff format --check loader tests dev benchmarks sample_batches
	@$(BIN)/mypy
	@$(BIN)/cog --check --diff --check-fail-msg='run: .venv/bin/cog -r README.md docs/batch-format.md' README.md docs/batch-format.md

ckan-up:
	@$(PYTHON) dev/ckan_stack.py up

ckan-down:
	@$(PYTHON) dev/ckan_stack.py down

ckan-status:
	@$(PYTHON) dev/ckan_stack.py status

## bench: the benchmarks, printing figures (upload memory needs the local catalogue)
bench: $(STAMP) ckan-up
	@$(BIN)/python benchmarks/bench_read_validate.py
	@$(BIN)/python benchmarks/bench_upload_memory.py
	@$(BIN)/python benchmarks/bench_hostile.py

clean: ckan-down
	rm -rf $(VENV) .ckan
