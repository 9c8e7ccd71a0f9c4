# Bootstrap: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## a whole plant, from an empty workspace to a shipped, labelled lot
	rm -rf demo-workspace
	$(BIN)/mes demo --dir demo-workspace

lint: $(STAMP)  ## style, types, layer rules
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint  ## the everyday run: everything but the slow reliability variants
	$(BIN)/pytest

test: check  ## everything, including the slow variants (minutes): what CI runs
	$(BIN)/pytest -m slow

bench: $(STAMP)
	$(BIN)/python bench/plant.py --scale 0.01

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .mypy_cache .ruff_cache
