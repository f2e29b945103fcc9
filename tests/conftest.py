"""Servers shared by the whole suite: real processes on loopback, started by keymint.devstack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keymint.devstack import ManagedProcess, start_openbao_dev


@pytest.fixture(scope="session")
def stack_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def openbao(stack_logs: Path) -> Iterator[ManagedProcess]:
    mp = start_openbao_dev(stack_logs)
    yield mp
    mp.stop()
