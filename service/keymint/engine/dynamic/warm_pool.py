"""The warm pool: keys created ahead, so a fleet starting together is not held to Bybit's one
new key per second.

A pooled key is an entry in state `pooled` in its sub-account's record, with its secret. A
hand-out turns it into the lease's entry (owner, state, times, secret dropped) in one
check-and-set, so a key is never handed out twice, and reconciliation, which decides on the
same record, can never delete a key that was just handed out. The leader's sweep refills each
pool, deletes the surplus when `warm_pool` is lowered, and deletes every pooled key of a role
that was deleted or changed (a changed role must not hand out keys with the old rights).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from pydantic import SecretStr

from keymint.engine.dynamic.role import Role, role_digest
from keymint.engine.keys.account import Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.capacity import SAMPLE
from keymint.engine.keys.factory import KeyFactory
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.leader import Fence, LeaderLost
from keymint.errors import KeymintError

log = structlog.get_logger(__name__)

# How stale this replica's view of a pool may be before a hand-out looks again: the leader
# refills pools, and other replicas only see that by reading.
HINT_AGE_S = 2.0


@dataclass(frozen=True)
class HandedOut:
    uid: int
    entry: KeyEntry
    secret: SecretStr


class _Empty(Exception):
    """The record had no key ready for the role after all."""


def pooled(account: Account, role: str, digest: str) -> list[KeyEntry]:
    return [
        e
        for e in account.owned_by(Owner.POOL, role)
        if e.state is KeyState.POOLED and e.role_digest == digest and e.api_secret
    ]


def surplus(accounts: Iterable[Account], roles: dict[str, Role]) -> list[tuple[int, KeyEntry]]:
    """Pooled keys to delete: of roles deleted or changed since, or beyond `warm_pool` (the
    oldest first, nearest to Bybit's key expiry)."""
    keep: dict[str, list[tuple[int, KeyEntry]]] = {}
    doomed = []
    for account in accounts:
        for entry in account.owned_by(Owner.POOL):
            if entry.state is not KeyState.POOLED:
                continue
            role = roles.get(entry.role)
            if role is None or entry.role_digest != role_digest(role):
                doomed.append((account.uid, entry))
            else:
                keep.setdefault(entry.role, []).append((account.uid, entry))
    for name, held in keep.items():
        held.sort(key=lambda item: item[1].created_at or 0.0)
        doomed += held[: max(0, len(held) - roles[name].warm_pool)]
    return doomed


class WarmPool:
    def __init__(
        self,
        store: AccountStore,
        factory: KeyFactory,
        provisioner: Provisioner,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._factory = factory
        self._provisioner = provisioner
        self._clock = clock

    async def take(self, role: Role, lease: Callable[[KeyEntry], KeyEntry]) -> HandedOut | None:
        """A ready key for `role`, now the entry `lease(pooled entry)`; None when none is ready."""
        digest = role_digest(role)
        members = await self._provisioner.pool_of(role)
        if len(members) > SAMPLE:
            members = random.sample(members, SAMPLE)
        ready = [
            a.uid
            for a in await self._store.last_seen_many(members, max_age_s=HINT_AGE_S)
            if pooled(a, role.name, digest)
        ]
        random.shuffle(ready)
        for uid in ready:

            def hand_out(account: Account) -> HandedOut:
                keys = pooled(account, role.name, digest)
                if not keys:
                    raise _Empty
                # At random: concurrent hand-outs in one group commit each take another key.
                chosen = random.choice(keys)
                secret = SecretStr(chosen.api_secret or "")
                leased = lease(chosen)
                account.keys[chosen.key] = leased
                return HandedOut(account.uid, leased, secret)

            try:
                return await self._store.change(uid, hand_out)
            except _Empty:
                continue
        return None

    async def refill(self, roles: list[Role], accounts: list[Account], fence: Fence) -> int:
        """Create what each role's pool lacks, paced by the factory's create limit."""
        created = 0
        for role in roles:
            digest = role_digest(role)
            have = sum(
                1
                for a in accounts
                for e in a.owned_by(Owner.POOL, role.name)
                if e.state in (KeyState.POOLED, KeyState.MINTING) and e.role_digest == digest
            )
            for _ in range(max(0, role.warm_pool - have)):
                try:
                    await self._make_one(role, digest, fence)
                except LeaderLost:
                    raise
                except KeymintError as exc:
                    log.warning("warm_pool_refill_failed", role=role.name, error=exc.message)
                    break
                created += 1
        if created:
            log.info("warm_pool_refilled", created=created)
        return created

    async def _make_one(self, role: Role, digest: str, fence: Fence) -> None:
        async def pool() -> list[int]:
            return await self._provisioner.pool_of(role)

        made = await self._factory.make(
            role, owner=Owner.POOL, pool=pool, grow=role, digest=digest, fence=fence
        )
        secret = made.secret.get_secret_value()

        def pooled_entry(entry: KeyEntry) -> KeyEntry:
            return entry.model_copy(update={"state": KeyState.POOLED, "api_secret": secret})

        await self._factory.settle(made, pooled_entry)
