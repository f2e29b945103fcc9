# Two set-up commands on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install deps-system dev test test-containers images fuzz lint fmt openapi bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project definition changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests drive for real: Prometheus and promtool. Installed when missing if
# we are root (CI is); otherwise we stop and say what to run.
deps-system:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make: the tests need Prometheus (Debian's 'prometheus' package: prometheus and promtool)."; \
			echo "      Install it with 'sudo apt-get install prometheus', or run 'sudo make deps-system'."; \
			exit 1; \
		fi; \
		echo "installing Debian's prometheus (for the tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	fi
	@promtool --version | head -1

dev: $(STAMP)
	$(BIN)/keymint dev

test: $(STAMP) deps-system
	$(BIN)/python -m pytest

# The image and the compose stack built and run for real, and the OpenBao folders again through
# testcontainers (tests/containers/run.sh): starts (installing, as root) a Docker engine with no
# bridge when none runs, and stops it after. Skips without Docker, fails without it under CI=true.
test-containers: $(STAMP) deps-system
	tests/containers/run.sh

# The local base (debootstrap) and the images on it: keymint:local, keymint-openbao:local,
# keymint-prometheus:local (deploy/docker/build-local.sh). Leaves the engine running.
images: $(STAMP)
	deploy/docker/dockerd.sh start
	deploy/docker/build-local.sh

# The long schemathesis run over openapi.yaml (the suite runs a short one): thousands of cases.
fuzz: $(STAMP)
	KEYMINT_FUZZ_EXAMPLES=100 $(BIN)/python -m pytest -q -s tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
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
