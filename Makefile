# bcdc-loader: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The local catalogue's CKAN line for ckan-up, ckan-status, demo and bench:
# 2.12 (default), 2.10 (production's line) or all. `ckan-down` stops every line.
CKAN_LINE ?= $(or $(BCDC_CKAN_LINE),2.12)
export BCDC_CKAN_LINE := $(CKAN_LINE)
# `make test` runs the integration tests against both lines in turn; CKAN_LINES=2.10
# (or BCDC_CKAN_LINES in the environment) runs them against one.
ifdef CKAN_LINES
export BCDC_CKAN_LINES := $(CKAN_LINES)
endif

.PHONY: demo test lint browser ckan-up ckan-down ckan-status bench clean

# The loader's own virtual environment (CKAN lives apart, in .ckan/LINE/venv).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

## demo: set everything up, start the local catalogue and load the sample batches
demo: $(STAMP) ckan-up
	@$(BIN)/python dev/demo.py

## test: set everything up, lint, and run the whole test suite (starts each catalogue line itself)
test: $(STAMP) browser lint
	@$(BIN)/python -m pytest

## browser: Debian's chromium and chromedriver, for the page's browser tests (apt, if missing)
browser:
	@bash dev/install_browser.sh

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

## bench: the benchmarks, printing figures (upload memory and serve need the local catalogue)
bench: $(STAMP) browser ckan-up
	@$(BIN)/python benchmarks/bench_read_validate.py
	@$(BIN)/python benchmarks/bench_upload_memory.py
	@$(BIN)/python benchmarks/bench_refresh.py
	@$(BIN)/python benchmarks/bench_serve.py
	@$(BIN)/python benchmarks/bench_hostile.py
	@$(BIN)/python benchmarks/bench_journal.py
	@$(BIN)/python benchmarks/bench_preflight.py
	@$(BIN)/python benchmarks/bench_wire.py --repeat 2
	@$(BIN)/python benchmarks/bench_fold.py --repeat 2
	@$(BIN)/python benchmarks/bench_scale.py

clean: ckan-down
	rm -rf $(VENV) .ckan
