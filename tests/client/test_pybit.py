"""Real pybit 5.17 on a client lease, against the simulator: it signs with the lease's key and
keeps working across rotations."""

from __future__ import annotations

import time

import pytest

from client.support import api_keys_at_bybit, client_for, fast_roles
from keymint.client.pybit import pybit_session
from stackkit import MakeStack, wait_for


def test_pybit_follows_the_lease_through_rotations(make_stack: MakeStack) -> None:
    stack = make_stack(roles=fast_roles())
    with client_for(stack) as keymint, keymint.mint("fast", grace_s=1.0) as lease:
        session = pybit_session(lease, stack.sim.url, max_retries=1)
        seen = set()
        deadline = time.monotonic() + 30
        while lease.rotations < 2:
            assert time.monotonic() < deadline, "no second rotation in time"
            # A bot's trading cadence, kept under the simulator's per-IP rate limit.
            time.sleep(0.25)
            info = session.get_api_key_information()
            assert info["retCode"] == 0
            seen.add(info["result"]["apiKey"])
            wallet = session.get_wallet_balance(accountType="UNIFIED")
            assert wallet["retCode"] == 0
        wait_for(lambda: len(api_keys_at_bybit(stack)) == 1, 10)
        assert session.api_key == lease.credentials.api_key
        assert session.get_api_key_information()["result"]["apiKey"] == session.api_key
        assert len(seen) >= 2


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("mainnet", "https://api.bybit.com"),
        ("demo", "https://api-demo.bybit.com"),
        ("tr", "https://api.bybit.tr"),
    ],
)
def test_pybit_is_put_on_keymints_named_hosts(name: str, host: str) -> None:
    from keymint.client.protocol import Credentials

    class Fixed:
        credentials = Credentials("key", "secret", 1, "lease")

        def add_listener(self, listener: object) -> None:
            pass

    assert pybit_session(Fixed(), name).endpoint == host
