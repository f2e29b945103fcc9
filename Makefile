# Two set-up commands on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install deps-system dev test lint fmt openapi bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project definition changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests drive for real: Prometheus and promtool. Needs root (CI is root).
deps-system:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
	@promtool --version | head -1

dev: $(STAMP)
	$(BIN)/keymint dev

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format service tests
	$(BIN)/ruff check --fix service tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Issue 7's measurements against real OpenBao, the simulator and `keymint serve` (~10 min):
# prints one table and writes bench/results/<date>-<machine>.json.
bench: $(STAMP)
	$(BIN)/python -m bench

openapi: $(STAMP)
	$(BIN)/keymint openapi > openapi.yaml
