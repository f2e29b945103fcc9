"""The container checks: keymint's image and the compose stack, run for real on a Docker
engine. They run in `make test-containers`, which starts the engine and builds the images;
plain `make test` needs no Docker and skips them."""

from __future__ import annotations

import os

import pytest

ENABLED = os.environ.get("KEYMINT_CONTAINER_TESTS") == "1"
HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="needs Docker and the local images: `make test-containers`")
    for item in items:
        if str(item.path).startswith(HERE):
            item.add_marker(skip)
