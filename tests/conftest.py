"""Servers shared by the whole suite: real processes on loopback, started by keymint.devstack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bybit_sim.control_client import SimControl
from keymint.devstack import ManagedProcess, start_openbao_dev, start_simulator


@pytest.fixture(scope="session")
def stack_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def openbao(stack_logs: Path) -> Iterator[ManagedProcess]:
    mp = start_openbao_dev(stack_logs)
    yield mp
    mp.stop()


@pytest.fixture(scope="session")
def sim_server(stack_logs: Path) -> Iterator[ManagedProcess]:
    """One Bybit simulator (`bybit-sim`) for the session, started as `keymint dev` starts it."""
    mp = start_simulator(stack_logs, extra_args=("--log-level", "warning"))
    yield mp
    mp.stop()


@pytest.fixture
def sim(sim_server: ManagedProcess) -> Iterator[SimControl]:
    """The simulator's control surface, after a reset: no accounts, faults or requests; clock and
    config at their start-up values."""
    with SimControl(sim_server.url) as control:
        control.reset()
        yield control
