# Two entry points, each setting up what it needs: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup quickstart test lint typecheck unit docs clean

$(STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[dev,docs,envs,hpo,rl,tensordict,pymasep,torchrl]'
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt --no-deps pymasep==0.2
	touch $(STAMP)

setup: $(STAMP)

quickstart: setup
	$(BIN)/wmsdk quickstart

lint: setup
	$(BIN)/ruff check worldmodel_sdk contracts tests benchmarks examples scripts
	$(BIN)/ruff format --check worldmodel_sdk contracts tests benchmarks examples scripts

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests contracts

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

test: lint typecheck unit docs

clean:
	rm -rf $(VENV) site build dist *.egg-info
