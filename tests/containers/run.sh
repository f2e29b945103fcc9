#!/bin/sh
# `make test-containers`: a Docker engine (started, and installed from Debian when missing, if
# we are root; stopped again if we started it), the local base and images, the container checks
# (tests/containers), and then every test folder that uses OpenBao once more with OpenBao in a
# container through testcontainers. Under CI=true no engine is a failure; elsewhere a skip.
set -eu
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
# The folders whose tests talk to OpenBao (tests/deploy, engine, sim and bybit_client do not).
OPENBAO_FOLDERS="tests/api tests/client tests/fuzz tests/lifecycle tests/observability
tests/reconcile tests/static tests/vault tests/vault_cli tests/test_own_vault_policy.py"

if ! deploy/docker/dockerd.sh start; then
    if [ "${CI:-}" = true ]; then
        echo "make test-containers: FAILED: no Docker engine could be started (CI=true)" >&2
        exit 1
    fi
    echo "make test-containers: skipped: no Docker engine here, and none could be started" \
        "(run it as root to install and start one, or start dockerd yourself)"
    exit 0
fi
trap 'deploy/docker/dockerd.sh stop' EXIT INT TERM

step() { echo; echo "== $1 ($(date -u +%H:%M:%S))"; }
step "images on the local base"
deploy/docker/build-local.sh
step "container checks: the image, compose, testcontainers"
KEYMINT_CONTAINER_TESTS=1 "$python" -m pytest tests/containers
step "the OpenBao folders, OpenBao in a container (testcontainers)"
# shellcheck disable=SC2086 # the folder list is split on purpose
KEYMINT_TEST_OPENBAO=container \
    KEYMINT_TEST_OPENBAO_IMAGE=${KEYMINT_TEST_OPENBAO_IMAGE:-keymint-openbao:local} \
    "$python" -m pytest $OPENBAO_FOLDERS
