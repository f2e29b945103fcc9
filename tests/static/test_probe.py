"""The acceptance probe: bots reading a static role's key never see it fail, through repeated
rotations and a rotation Bybit refuses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pybit.exceptions import FailedRequestError, InvalidRequestError

from sim.simtools import pybit_from
from stackkit import ADMIN_RULES, BOT_IP, Stack

from .conftest import Replica, api_keys_at_bybit, creds_record, static_role

ROTATIONS = 6
OVERLAP_S = 1.0


@dataclass
class Probe:
    """A bot in a loop: read the current key, use it once."""

    stack: Stack
    read_key: Callable[[], tuple[str, str]]
    stop: threading.Event = field(default_factory=threading.Event)
    calls: int = 0
    keys_seen: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        while not self.stop.is_set():
            api_key, api_secret = self.read_key()
            session = pybit_from(BOT_IP, self.stack.sim.url, api_key, api_secret)
            try:
                answer = session.get_wallet_balance(accountType="UNIFIED")
                assert answer["retCode"] == 0
            except (FailedRequestError, InvalidRequestError, AssertionError) as exc:
                self.failures.append(f"{api_key}: {exc}")
            self.calls += 1
            self.keys_seen.add(api_key)
            # Two probes at ~30 calls/s stay well under Bybit's 600 per 5 s per IP, which
            # keymint's own calls share (a ban there would fail the rotation, not the readers).
            self.stop.wait(0.03)


def _from_vault(stack: Stack) -> tuple[str, str]:
    # What a Vault Agent template renders: the KV record, not keymint's API.
    current = creds_record(stack, "probe")["current"]
    return current["api_key"], current["api_secret"]


def _from_api(stack: Stack, token: str) -> Callable[[], tuple[str, str]]:
    def read() -> tuple[str, str]:
        data = stack.call("GET", "/v1/static-creds/probe", token).json()["data"]
        return data["api_key"], data["api_secret"]

    return read


async def test_readers_never_fail_through_rotations(stack: Stack, replica: Replica) -> None:
    admin = stack.token(ADMIN_RULES)
    created = stack.call("PUT", "/v1/static-roles/probe", admin, json=static_role(stack))
    assert created.status_code == 200, created.text
    rotator = (await replica(stack)).rotator
    probes = [
        Probe(stack, lambda: _from_vault(stack)),
        Probe(stack, _from_api(stack, stack.token(ADMIN_RULES))),
    ]
    threads = [threading.Thread(target=p.run) for p in probes]
    for thread in threads:
        thread.start()
    try:
        for n in range(ROTATIONS):
            before = creds_record(stack, "probe")
            if n == 3:
                stack.sim.fault("/v5/user/create-sub-api", ret_code=10016, count=1)
                refused = stack.call("POST", "/v1/rotate-role/probe", admin)
                assert refused.status_code == 503, refused.text
                after = creds_record(stack, "probe")
                assert after["current"] == before["current"] and after["last_error"]
            else:
                rotated = stack.call("POST", "/v1/rotate-role/probe", admin)
                assert rotated.status_code == 200, rotated.text
            # Readers switch within the overlap; then the scheduler's pass deletes the old key.
            await asyncio.sleep(OVERLAP_S + 0.2)
            await rotator.rotate_due()
    finally:
        for probe in probes:
            probe.stop.set()
        for thread in threads:
            thread.join()

    for probe in probes:
        assert probe.failures == [], probe.failures
        assert probe.calls > 50 and len(probe.keys_seen) == ROTATIONS
    record = creds_record(stack, "probe")
    assert record["generation"] == ROTATIONS and record["previous"] is None
    assert api_keys_at_bybit(stack) == {record["current"]["api_key"]}
