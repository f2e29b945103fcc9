"""The slot ledger: how many keys each sub-account holds, shared by every replica through Vault.

A mint reserves a slot on a sub-account with check-and-set *before* calling Bybit, so replicas
minting at once can never push a sub-account past its key limit. The reservation carries the
key's note: it is the write-ahead intent that lets a crashed mint be found and cleaned up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from keymint.engine.ports import KV
from keymint.engine.store import data_of, ledger_path, read_lease, with_cas_retry
from keymint.errors import CapacityExhausted


class SlotKind(StrEnum):
    """What owns the key a slot stands for: where its record lives (see `ownership`)."""

    LEASE = "lease"
    POOL = "pool"
    STATIC = "static"


class Slot(BaseModel):
    role: str
    note: str
    reserved_at: float
    kind: SlotKind = SlotKind.LEASE


class Ledger(BaseModel):
    slots: dict[str, Slot] = Field(default_factory=dict)
    # Keys on the sub-account that keymint did not create, as last seen at Bybit.
    external_keys: int = 0

    def room(self, limit: int) -> int:
        return limit - len(self.slots) - self.external_keys


# Every mint reads the ledgers it chooses from, one Vault read each: reading a 200-sub-account
# pool whole made a mint 200 reads (bench: fleet start, mint overhead). The roomiest of a random
# sample of this many spreads keys nearly as evenly ("power of d choices").
SAMPLE = 8


async def read_ledger(kv: KV, sub_uid: int) -> tuple[Ledger, int]:
    data, version = data_of(await kv.read(ledger_path(sub_uid)))
    return Ledger.model_validate(data), version


async def reserve_slot(
    kv: KV,
    pool: Sequence[int],
    *,
    key: str,
    slot: Slot,
    limit: int,
    role: str,
) -> int:
    """The sub-account (most room first) on which `key` now holds a slot.

    A pool larger than `SAMPLE` is not read whole on every mint: the roomiest of a random
    sample of its ledgers is taken, and only when the whole sample is full is every ledger read.
    """

    async def ledgers_of(uids: Sequence[int]) -> list[tuple[int, Ledger, int]]:
        found = await asyncio.gather(*(read_ledger(kv, uid) for uid in uids))
        ledgers = [(uid, *pair) for uid, pair in zip(uids, found, strict=True)]
        # Ties in random order: concurrent mints then spread over equally roomy sub-accounts
        # instead of all racing for the first one's check-and-set.
        random.shuffle(ledgers)
        ledgers.sort(key=lambda item: -item[1].room(limit))
        return ledgers

    async def attempt() -> int:
        ledgers = []
        if len(pool) > SAMPLE:
            ledgers = await ledgers_of(random.sample(list(pool), SAMPLE))
        if not ledgers or ledgers[0][1].room(limit) <= 0:
            ledgers = await ledgers_of(pool)
        uid, ledger, version = ledgers[0] if ledgers else (0, Ledger(), 0)
        if not ledgers or ledger.room(limit) <= 0:
            raise await pool_exhausted(kv, pool, limit=limit, role=role)
        ledger.slots[key] = slot
        await kv.write(ledger_path(uid), ledger.model_dump(mode="json"), cas=version)
        return uid

    return await with_cas_retry(attempt, what=f"reserving a key slot for role {role!r}")


async def release_slot(kv: KV, sub_uid: int, key: str) -> None:
    async def attempt() -> None:
        ledger, version = await read_ledger(kv, sub_uid)
        if ledger.slots.pop(key, None) is None:
            return
        await kv.write(ledger_path(sub_uid), ledger.model_dump(mode="json"), cas=version)

    await with_cas_retry(attempt, what=f"releasing a key slot on sub-account {sub_uid}")


async def mark_full(kv: KV, sub_uid: int, *, limit: int) -> None:
    """Bybit refused a key at its cap: whatever keymint does not hold there belongs to others."""

    async def attempt() -> None:
        ledger, version = await read_ledger(kv, sub_uid)
        ledger.external_keys = max(ledger.external_keys, limit - len(ledger.slots) + 1)
        await kv.write(ledger_path(sub_uid), ledger.model_dump(mode="json"), cas=version)

    await with_cas_retry(attempt, what=f"recording sub-account {sub_uid} as full")


async def pool_exhausted(
    kv: KV, pool: Sequence[int], *, limit: int, role: str
) -> CapacityExhausted:
    """The 429 for a full pool, retryable when the pool's earliest lease expires."""
    expiries = []
    for uid in pool:
        ledger, _ = await read_ledger(kv, uid)
        for key, slot in ledger.slots.items():
            found = await read_lease(kv, slot.role, key)
            if found is not None:
                expiries.append(found[0].expires_at)
    retry_after = max(1, int(min(expiries) - time.time()) + 1) if expiries else 60
    return CapacityExhausted(
        f"role {role!r}: every sub-account in its pool ({', '.join(map(str, pool))}) "
        f"holds its limit of {limit} keys",
        retry_after_s=retry_after,
    )


async def rekind_slot(kv: KV, sub_uid: int, key: str, kind: SlotKind) -> None:
    """A pooled key becomes a lease's: the slot changes owner kind and its intent time restarts,
    so reconciliation's grace covers the moment before the lease record exists."""

    async def attempt() -> None:
        ledger, version = await read_ledger(kv, sub_uid)
        slot = ledger.slots.get(key)
        if slot is None:
            return
        ledger.slots[key] = slot.model_copy(update={"kind": kind, "reserved_at": time.time()})
        await kv.write(ledger_path(sub_uid), ledger.model_dump(mode="json"), cas=version)

    await with_cas_retry(attempt, what=f"handing over a pooled key on sub-account {sub_uid}")


async def usage(kv: KV, pools: dict[int, list[str]], *, limit: int) -> list[dict[str, Any]]:
    """Per sub-account (every pool member and every ledger): used against the limit."""
    uids = set(pools) | {int(n) for n in await kv.list("subaccounts/") if n.isdigit()}
    report = []
    for uid in sorted(uids):
        ledger, _ = await read_ledger(kv, uid)
        by_kind = {kind.value: 0 for kind in SlotKind}
        for slot in ledger.slots.values():
            by_kind[slot.kind.value] += 1
        report.append(
            {
                "subaccount_uid": uid,
                "limit": limit,
                "used": len(ledger.slots) + ledger.external_keys,
                "keymint_keys": len(ledger.slots),
                "keymint_keys_by_kind": by_kind,
                "foreign_keys": ledger.external_keys,
                "roles": sorted(pools.get(uid, [])),
            }
        )
    return report
