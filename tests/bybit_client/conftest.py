"""The suite's bybit-sim (tests/conftest.py), limits scaled for speed; each test starts from a
reset, freshly seeded account."""

from collections.abc import AsyncIterator

import pytest

from bybit_client.support import SCALE, make_client
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import BybitClient


@pytest.fixture(autouse=True)
def scaled_limits(sim: SimControl) -> None:
    sim.configure(rate_limit_scale=SCALE)


@pytest.fixture
def account(sim: SimControl) -> SeededMaster:
    return sim.seed(subaccounts=3)


@pytest.fixture
async def client(sim: SimControl, account: SeededMaster) -> AsyncIterator[BybitClient]:
    async with make_client(sim, account) as bybit:
        yield bybit
