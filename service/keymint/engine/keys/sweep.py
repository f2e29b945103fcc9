"""The leader's sweep: one read of every sub-account record per pass, and from it

- leases past their expiry are revoked (a renewal that landed first makes the claim decline);
- deletions Bybit did not confirm are retried at their next attempt, whatever the key's expiry;
- lost leases are dropped once expired;
- warm pools are trimmed (surplus, deleted or changed roles) and refilled;
- the state gauges are computed, once, by the leader.

Its cost grows with sub-accounts, not with leases: a record holds at most Bybit's 20 keys.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from keymint.engine.definition_store import DefinitionStore
from keymint.engine.dynamic.role import Role, RoleStore, role_digest
from keymint.engine.dynamic.warm_pool import WarmPool, surplus
from keymint.engine.events import EngineEvents, StateSnapshot
from keymint.engine.keys.account import DELETION_PENDING, Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.capacity import roles_by_subaccount, usage
from keymint.engine.keys.deletion import Expect, KeyDeleter, Outcome
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.leader import Fence, LeaderLost
from keymint.engine.static.role import StaticRole
from keymint.errors import KeymintError

log = structlog.get_logger(__name__)

# Deletions one pass runs at once: one at a time, 1,000 expired leases took 30 s where Bybit's
# delete limit allows 2 s (bench). The Bybit client still paces them at Bybit's limit.
CONCURRENCY = 32


@dataclass
class SweepPass:
    revoked: int = 0
    failed: int = 0
    trimmed: int = 0
    refilled: int = 0
    # Keys whose deletion Bybit has not confirmed yet, waiting for their next attempt.
    backlog: int = 0
    irrevocable: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Work:
    uid: int
    entry: KeyEntry
    reason: str
    expect: Expect


class Sweep:
    def __init__(
        self,
        store: AccountStore,
        deleter: KeyDeleter,
        warm_pool: WarmPool,
        roles: RoleStore,
        static_roles: DefinitionStore[StaticRole],
        provisioner: Provisioner,
        events: EngineEvents,
        *,
        key_limit: int,
        rotations: Callable[[], Awaitable[dict[str, float]]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._deleter = deleter
        self._warm_pool = warm_pool
        self._roles = roles
        self._static_roles = static_roles
        self._provisioner = provisioner
        self._events = events
        self._limit = key_limit
        self._rotations = rotations
        self._clock = clock

    async def run(self, fence: Fence) -> SweepPass:
        result = SweepPass()
        roles = await self._roles.all()
        roles_of = await roles_by_subaccount(
            roles, await self._static_roles.all(), self._provisioner
        )
        uids = sorted(set(await self._store.uids()) | set(roles_of))
        accounts = await self._store.read_many(uids)
        now = self._clock()
        work = self._due(accounts, roles, now, result, term=fence.term)
        try:
            await self._retire_all(work, fence, result)
            result.refilled = await self._warm_pool.refill(
                [r for r in roles.values() if r.warm_pool], accounts, fence
            )
        except LeaderLost:
            return result
        if result.revoked or result.failed or result.trimmed:
            log.info(
                "sweep",
                revoked=result.revoked,
                failed=result.failed,
                trimmed=result.trimmed,
                backlog=result.backlog,
                irrevocable=result.irrevocable,
            )
        self._events.state(await self._snapshot(accounts, roles, roles_of, result, now))
        return result

    def _due(
        self,
        accounts: list[Account],
        roles: dict[str, Role],
        now: float,
        result: SweepPass,
        *,
        term: int,
    ) -> list[_Work]:
        work: list[_Work] = []
        for account in accounts:
            for entry in account.keys.values():
                if entry.state is KeyState.IRREVOCABLE:
                    result.irrevocable += 1
                if entry.owner is Owner.LEASE and entry.state is KeyState.ACTIVE:
                    if entry.expired(now):
                        work.append(_Work(account.uid, entry, "expired", self._still_expired))
                elif entry.state in DELETION_PENDING:
                    # A claim from an earlier leader term is void: its holder is gone.
                    if entry.next_attempt_at > now or entry.claimed(now, term=term):
                        result.backlog += 1
                    else:
                        work.append(_Work(account.uid, entry, entry.reason or "retried", _pending))
                elif entry.state is KeyState.LOST and entry.expired(now):
                    work.append(_Work(account.uid, entry, "expired", _lost))
        for uid, entry in surplus(accounts, roles):
            work.append(_Work(uid, entry, "trimmed", _still_pooled(entry)))
        return work

    def _still_expired(self, entry: KeyEntry) -> bool:
        return entry.state is KeyState.ACTIVE and entry.expired(self._clock())

    async def _retire_all(self, work: list[_Work], fence: Fence, result: SweepPass) -> None:
        """Deletions run side by side; once leadership is lost, none is started (the ones
        already at Bybit finish), and LeaderLost is raised after them."""
        running = asyncio.Semaphore(CONCURRENCY)
        lost: list[LeaderLost] = []

        async def one(item: _Work) -> None:
            async with running:
                try:
                    fence.check("the sweep")
                    retired = await self._deleter.retire(
                        item.uid,
                        item.entry.key,
                        reason=item.reason,
                        expect=item.expect,
                        fence=fence,
                    )
                except LeaderLost as exc:
                    lost.append(exc)
                    return
                except KeymintError as exc:
                    # Vault failed mid-way: counted as a failure, retried by the next pass.
                    log.warning("sweep_error", subaccount=item.uid, error=exc.message)
                    result.failed += 1
                    return
            match retired.outcome:
                case Outcome.DELETED if item.reason == "trimmed":
                    result.trimmed += 1
                case Outcome.DELETED:
                    result.revoked += 1
                case Outcome.PENDING:
                    result.failed += 1
                    result.backlog += 1
                case Outcome.BUSY:
                    result.backlog += 1
                case _:
                    result.skipped.append(item.entry.note)

        await asyncio.gather(*(one(item) for item in work))
        if lost:
            raise lost[0]

    async def _snapshot(
        self,
        accounts: list[Account],
        roles: dict[str, Role],
        roles_of: dict[int, list[str]],
        result: SweepPass,
        now: float,
    ) -> StateSnapshot:
        ages: dict[str, list[float]] = defaultdict(list)
        active: dict[str, int] = dict.fromkeys(roles, 0)
        pooled: dict[str, int] = {name: 0 for name, role in roles.items() if role.warm_pool}
        backlog = 0
        for account in accounts:
            for entry in account.keys.values():
                if entry.created_at is not None and entry.state is not KeyState.LOST:
                    ages[entry.role].append(max(0.0, now - entry.created_at))
                if entry.state in DELETION_PENDING:
                    backlog += 1
                elif entry.owner is Owner.LEASE and entry.state is KeyState.ACTIVE:
                    if entry.expired(now):
                        backlog += 1
                    else:
                        active[entry.role] = active.get(entry.role, 0) + 1
                elif (
                    entry.state is KeyState.POOLED
                    and entry.role in pooled
                    and entry.role_digest == role_digest(roles[entry.role])
                ):
                    pooled[entry.role] += 1
        try:
            rotated = await self._rotations()
        except KeymintError:
            rotated = {}
        return StateSnapshot(
            key_ages=dict(ages),
            leases_active=active,
            warm_pool=pooled,
            subaccounts=usage(accounts, roles_of, limit=self._limit),
            deletion_backlog=backlog,
            irrevocable=result.irrevocable,
            rotated_at=rotated,
        )


def _pending(entry: KeyEntry) -> bool:
    return entry.state in DELETION_PENDING


def _lost(entry: KeyEntry) -> bool:
    return entry.state is KeyState.LOST


def _still_pooled(entry: KeyEntry) -> Expect:
    def expect(current: KeyEntry) -> bool:
        return current.state is KeyState.POOLED and current.role_digest == entry.role_digest

    return expect
