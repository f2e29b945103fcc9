"""The testcontainers path itself: no Ryuk, self-cleanup, and a clear refusal when an image can
be neither found nor pulled."""

from __future__ import annotations

import subprocess
import sys

import pytest

import containerkit
from keymint.devstack import StackError

from .test_keymint_image import IMAGE


def test_a_dead_test_process_leaves_no_container_behind() -> None:
    # A test process that starts a container and dies without cleaning up.
    script = (
        "import os, containerkit; "
        f"c = containerkit.start_container({IMAGE!r}, command=['--version']); "
        "print(c.get_wrapped_container().id, flush=True); os._exit(9)"
    )
    died = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=containerkit.__file__.rsplit("/", 1)[0],
        check=False,
    )
    assert died.returncode == 9, died.stderr
    left = died.stdout.strip()
    client = containerkit.docker_client()
    try:
        assert client.containers.get(left).labels[containerkit.OWNER_LABEL]
        assert left[:12] in containerkit.remove_orphans()
        assert not client.containers.list(all=True, filters={"id": left})
        # Ryuk is never started: its image cannot be pulled here.
        assert not [c for c in client.containers.list(all=True) if "ryuk" in str(c.image)]
    finally:
        client.close()


def test_an_image_that_cannot_be_had_is_refused_with_what_to_do() -> None:
    with pytest.raises(StackError, match="make images") as refused:
        containerkit.start_openbao_container(image="keymint-test/no-such-image:0")
    assert "KEYMINT_TEST_OPENBAO_IMAGE=keymint-openbao:local" in str(refused.value)
