# Two commands on a fresh machine: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run chat test lint clean migrate frameworks

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes; stamps record which extras are in the venv.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

migrate: $(VENV)/.installed
	$(BIN)/python -m bot db upgrade

run: migrate
	$(BIN)/python -m bot serve

# Answer a framework in the terminal: make chat FRAMEWORK=place-partnership-maturity
# Migration log lines are held back (LOG_LEVEL=WARNING) so the conversation starts on a clean screen.
chat: $(VENV)/.installed
	@LOG_LEVEL=WARNING $(BIN)/python -m bot db upgrade
	@$(BIN)/python -m bot chat $(if $(FRAMEWORK),--framework $(FRAMEWORK))

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# The house rules: style, types (mypy, configured in pyproject.toml) and the import layers (lint-imports).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

frameworks: $(VENV)/.installed
	$(BIN)/python -m bot frameworks list

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
