"""One bybit-sim subprocess for the session; each test starts from a reset and a fresh master."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.simtools import Control, SimProcess, World


@pytest.fixture(scope="session")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = SimProcess(tmp_path_factory.mktemp("bybit-sim") / "sim.log", "--log-level", "warning")
    yield process
    process.stop()


@pytest.fixture
def control(sim_process: SimProcess) -> Iterator[Control]:
    ctl = Control(sim_process.url)
    ctl.reset()
    yield ctl
    ctl.http.close()


@pytest.fixture
def world(control: Control) -> World:
    """A master with every master permission and two sub-accounts."""
    return control.seed(subaccounts=2)
