# Two entry points, each setting up what it needs: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# palaestrAI pins gymnasium ~1.0.0 (the envs extra brings a newer one), so its bridge is
# tested in an environment of its own, holding only the package, palaestrAI and pytest.
PAL_VENV ?= .venv-palaestrai
PAL_BIN := $(PAL_VENV)/bin
PAL_STAMP := $(PAL_VENV)/.installed

.PHONY: setup quickstart test lint typecheck unit unit-palaestrai docs clean

$(STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[dev,docs,envs,hpo,rl,tensordict,pymasep,torchrl,distributed]'
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt --no-deps pymasep==0.2
	touch $(STAMP)

setup: $(STAMP)

$(PAL_STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(PAL_VENV)
	$(PAL_BIN)/python -m pip install --quiet torch==2.13.0
	$(PAL_BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[palaestrai]' \
		'pytest>=8' 'pytest-asyncio>=0.23' 'pytest-timeout>=2.3'
	touch $(PAL_STAMP)

quickstart: setup
	$(BIN)/wmsdk quickstart

lint: setup
	$(BIN)/ruff check worldmodel_sdk contracts tests benchmarks examples scripts
	$(BIN)/ruff format --check worldmodel_sdk contracts tests benchmarks examples scripts

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests contracts

unit-palaestrai: $(PAL_STAMP)
	$(PAL_BIN)/pytest tests/adapters/test_palaestrai*.py

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

test: lint typecheck unit unit-palaestrai docs

clean:
	rm -rf $(VENV) $(PAL_VENV) site build dist *.egg-info
