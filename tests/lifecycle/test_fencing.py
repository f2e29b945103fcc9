"""Interleavings the scheduler would make rare, made certain with an injected clock: keymint's
engine in this process against real OpenBao and the simulator, the leader's sweep started by
hand and held mid-pass by slow deletes at Bybit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from structlog.testing import capture_logs

from keymint import wiring
from keymint.engine.caller import Caller
from keymint.engine.dynamic.lease import LeaseState

# The sweep deletes this many keys at once; the next ones wait for a slot.
from keymint.engine.keys.sweep import CONCURRENCY
from keymint.errors import BadRequest, NotFound
from keymint.wiring import Services
from stackkit import MakeStack, Stack, in_process

DELETE = "/v5/user/delete-sub-api"
CREATE = "/v5/user/create-sub-api"


@dataclass
class Clock:
    now: float
    mono: float

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono


Start = Callable[[Stack], Awaitable[Services]]


@pytest.fixture
def clock() -> Clock:
    return Clock(now=time.time(), mono=time.monotonic())


@pytest.fixture
async def engine(clock: Clock) -> AsyncIterator[Start]:
    started: list[Services] = []

    async def start(stack: Stack) -> Services:
        settings = in_process(stack, replica_id=f"engine-{len(started)}")
        services = await wiring.start(settings, clock=clock.time, monotonic=clock.monotonic)
        started.append(services)
        return services

    yield start
    for services in started:
        await services.stop()


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def states(services: Services, lease_ids: list[str]) -> list[LeaseState | None]:
    found: list[LeaseState | None] = []
    for lid in lease_ids:
        try:
            found.append((await services.leases.lookup(lid)).state)
        except NotFound:
            found.append(None)
    return found


async def mint(services: Services, n: int) -> list[str]:
    caller = Caller(display_name="bot")
    minted = [await services.minting.mint("spot-trader", caller=caller, ttl=60) for _ in range(n)]
    return [m.lease.lease_id for m in minted]


def live_keys(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


async def test_a_renewal_that_won_is_never_undone_by_the_pass_that_read_before_it(
    make_stack: MakeStack, engine: Start, clock: Clock
) -> None:
    stack = make_stack(scheduler_enabled=False)
    services = await engine(stack)
    lease_ids = await mint(services, CONCURRENCY + 1)
    stack.sim.fault(DELETE, latency_ms=1000, count=None)
    assert await services.leader.tick()
    clock.now += 100  # every lease is past its end: the pass reads them all as expired
    sweep = asyncio.create_task(services.sweep.run(services.leader.fence()))

    async def claimed() -> bool:
        return (await states(services, lease_ids)).count(LeaseState.REVOKING) == CONCURRENCY

    await until(claimed)
    # Renewals that landed before the leases' end, while the pass is mid-way.
    clock.now -= 41
    renewed: dict[str, bool] = {}
    for lid in lease_ids:
        try:
            await services.leases.renew(lid, increment=None)
            renewed[lid] = True
        except BadRequest:
            renewed[lid] = False
    clock.now += 41
    await sweep
    assert list(renewed.values()).count(True) == 1
    by_id = dict(zip(lease_ids, await states(services, lease_ids), strict=True))
    for lid, won in renewed.items():
        assert by_id[lid] == (LeaseState.ACTIVE if won else None)
    [survivor] = [lid for lid, won in renewed.items() if won]
    assert (await services.leases.lookup(survivor)).api_key in live_keys(stack)
    assert len(live_keys(stack)) == 1


async def test_a_paused_old_leader_writes_nothing_at_bybit_after_it_wakes(
    make_stack: MakeStack, engine: Start, clock: Clock
) -> None:
    stack = make_stack(scheduler_enabled=False)
    services = await engine(stack)
    lease_ids = await mint(services, CONCURRENCY + 4)
    static = {
        "subaccount_uid": int(stack.master.subaccounts[0]),
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": ["127.0.0.1"],
        "rotation_period": "1h",
        "overlap": "1m",
    }
    await services.static.write("mm", static)
    creates = len(stack.sim.requests(CREATE))
    stack.sim.fault(DELETE, latency_ms=1000, count=None)
    assert await services.leader.tick()
    fence = services.leader.fence()
    clock.now += 7200  # leases expired, and the static role due for rotation
    with capture_logs() as logs:
        sweep = asyncio.create_task(services.sweep.run(fence))

        async def claimed() -> bool:
            return (await states(services, lease_ids)).count(LeaseState.REVOKING) == CONCURRENCY

        await until(claimed)
        # The process stalls past its lease (GC pause, SIGSTOP): another replica leads now.
        clock.mono += services.settings.leader_lease_s
        await sweep  # returns once the deletes already at Bybit are answered
        assert await services.rotator.rotate_due(fence) == []
    assert (await states(services, lease_ids)).count(None) == CONCURRENCY
    deletes = stack.sim.requests(DELETE)
    assert len(deletes) == CONCURRENCY  # only those already at Bybit when it stalled
    assert len(stack.sim.requests(CREATE)) == creates
    assert (await states(services, lease_ids)).count(LeaseState.ACTIVE) == 4
    assert any(e["event"] == "leader_lost" for e in logs)


async def test_a_dead_leaders_claim_does_not_hold_up_its_successor(
    make_stack: MakeStack, engine: Start, clock: Clock
) -> None:
    stack = make_stack(scheduler_enabled=False)
    dead = await engine(stack)
    [lease_id] = await mint(dead, 1)
    assert await dead.leader.tick()
    stack.sim.fault(DELETE, latency_ms=60_000, count=1)
    clock.now += 100
    # The leader claims the expired lease and dies before Bybit answers its delete.
    stall = asyncio.create_task(dead.sweep.run(dead.leader.fence()))
    await until(lambda: _is(dead, lease_id, LeaseState.REVOKING))
    stall.cancel()
    stack.sim.clear_faults()
    successor = await engine(stack)
    clock.now += dead.settings.leader_lease_s + 1  # the dead leader's lock has run out
    assert await successor.leader.tick()
    assert successor.leader.term > dead.leader.term
    # Its claim is still well inside its 60 s, yet the new term voids it at once.
    await successor.sweep.run(successor.leader.fence())
    assert await states(successor, [lease_id]) == [None]
    assert live_keys(stack) == set()


async def _is(services: Services, lease_id: str, state: LeaseState) -> bool:
    return await states(services, [lease_id]) == [state]
