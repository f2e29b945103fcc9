"""The simulator tests use the suite's bybit-sim (tests/conftest.py: `sim_server`, `sim`, reset
before each test); each test starts from a fresh master."""

from __future__ import annotations

import pytest

from bybit_sim.control_client import SimControl
from sim.simtools import World, seed


@pytest.fixture
def world(sim: SimControl) -> World:
    """A master with every master permission and two sub-accounts."""
    return seed(sim, subaccounts=2)
