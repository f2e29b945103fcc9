"""Bybit's key limit per sub-account (20): where a new key goes, and when a full pool frees up.

Room is counted in the sub-account record: every key keymint holds or is minting there, plus
the foreign keys last counted at Bybit. A reservation adds its entry only if there is room, in
the same check-and-set, so replicas minting at once can never push a sub-account past the limit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from keymint.engine.definition_store import DefinitionStore
from keymint.engine.dynamic.role import Role, RoleStore
from keymint.engine.events import SubaccountUsage
from keymint.engine.keys.account import Account, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.static.role import StaticRole
from keymint.errors import CapacityExhausted

# The roomiest of a random sample of this many sub-accounts spreads keys nearly as evenly as
# reading the whole pool ("power of d choices"), for a fixed cost per mint.
SAMPLE = 8


class NoRoom(Exception):
    """The sub-account was full when the reservation was applied."""


async def by_room(
    store: AccountStore, pool: Sequence[int], *, limit: int, exclude: Iterable[int] = ()
) -> list[int]:
    """Pool members worth trying, roomiest first, judged by what this replica last saw."""
    skip = set(exclude)
    members = [uid for uid in pool if uid not in skip]
    if len(members) > SAMPLE:
        members = random.sample(members, SAMPLE)
    accounts = await store.last_seen_many(members)
    # Ties in random order: concurrent mints spread over equally roomy sub-accounts instead of
    # all queueing on the first one's record.
    random.shuffle(accounts)
    accounts.sort(key=lambda a: -a.room(limit))
    return [a.uid for a in accounts if a.room(limit) > 0]


def exhausted(
    role: str, accounts: Sequence[Account], *, limit: int, now: float
) -> CapacityExhausted:
    """The 429 for a full pool, retryable when the pool's earliest lease expires."""
    expiries = [
        e.expires_at
        for a in accounts
        for e in a.keys.values()
        if e.owner is Owner.LEASE and e.expires_at is not None
    ]
    retry_after = max(1, math.ceil(min(expiries) - now) + 1) if expiries else 60
    uids = ", ".join(str(a.uid) for a in accounts)
    return CapacityExhausted(
        f"role {role!r}: every sub-account in its pool ({uids}) holds its limit of {limit} keys",
        retry_after_s=retry_after,
    )


def usage(
    accounts: Iterable[Account], roles_of: dict[int, list[str]], *, limit: int
) -> list[SubaccountUsage]:
    """Per sub-account: keymint's keys by owner, foreign keys and the roles it serves."""
    report = []
    for account in sorted(accounts, key=lambda a: a.uid):
        by_owner = {owner.value: 0 for owner in Owner}
        for entry in account.keys.values():
            by_owner[entry.owner.value] += 1
        report.append(
            SubaccountUsage(
                uid=account.uid,
                limit=limit,
                keymint_keys=len(account.keys),
                foreign_keys=account.foreign_keys,
                by_owner=by_owner,
                roles=sorted(roles_of.get(account.uid, [])),
            )
        )
    return report


async def roles_by_subaccount(
    roles: dict[str, Role], static_roles: dict[str, StaticRole], provisioner: Provisioner
) -> dict[int, list[str]]:
    """Which roles (dynamic and static) each managed sub-account serves."""
    served: dict[int, list[str]] = {}
    for name, role in roles.items():
        for uid in await provisioner.pool_of(role):
            served.setdefault(uid, []).append(name)
    for name, static in static_roles.items():
        served.setdefault(static.subaccount_uid, []).append(name)
    return served


class CapacityView:
    """`GET /v1/subaccounts`: one read per managed sub-account, never per key."""

    def __init__(
        self,
        store: AccountStore,
        roles: RoleStore,
        static_roles: DefinitionStore[StaticRole],
        provisioner: Provisioner,
        *,
        key_limit: int,
    ) -> None:
        self._store = store
        self._roles = roles
        self._static_roles = static_roles
        self._provisioner = provisioner
        self._limit = key_limit

    async def subaccounts(self) -> list[SubaccountUsage]:
        served = await roles_by_subaccount(
            await self._roles.all(), await self._static_roles.all(), self._provisioner
        )
        uids = sorted(set(await self._store.uids()) | set(served))
        return usage(await self._store.read_many(uids), served, limit=self._limit)
