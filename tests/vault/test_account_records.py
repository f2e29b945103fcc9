"""The sub-account record store on real OpenBao: check-and-set changes, group commit, and two
replicas' stores on one prefix, each remembering what it last saw."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import hvac

from keymint.engine.keys.account import Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.vault import KvStore, VaultEndpoint

UID = 4242


def entry(key: str) -> KeyEntry:
    return KeyEntry(
        key=key,
        owner=Owner.LEASE,
        role="r",
        note=f"keymint:{key}",
        state=KeyState.MINTING,
        reserved_at=time.time(),
    )


def add(key: str) -> object:
    def change(account: Account) -> None:
        account.keys[key] = entry(key)

    return change


def counted_kv(endpoint: VaultEndpoint, token: str, prefix: str, ops: Counter[str]) -> KvStore:
    def hook(operation: str, seconds: float, answered: bool) -> None:
        ops[operation] += 1

    return KvStore(hvac.Client(url=endpoint.addr, token=token), prefix=prefix, hook=hook)


async def test_concurrent_changes_to_one_record_are_written_together(
    endpoint: VaultEndpoint, keymint_token: str, prefix: str
) -> None:
    ops: Counter[str] = Counter()
    store = AccountStore(counted_kv(endpoint, keymint_token, prefix, ops))
    await asyncio.gather(*(store.change(UID, add(f"k{n:02d}")) for n in range(50)))  # type: ignore[arg-type]
    assert sorted((await store.read(UID)).keys) == [f"k{n:02d}" for n in range(50)]
    # Group commit: the changes that queue behind a write go out in the next one.
    assert ops["kv.write"] <= 10, ops


async def test_two_replicas_never_lose_each_others_changes(
    endpoint: VaultEndpoint, keymint_token: str, prefix: str
) -> None:
    ops: Counter[str] = Counter()
    one = AccountStore(counted_kv(endpoint, keymint_token, prefix, ops))
    two = AccountStore(counted_kv(endpoint, keymint_token, prefix, ops))
    await asyncio.gather(
        *(one.change(UID, add(f"a{n}")) for n in range(20)),  # type: ignore[arg-type]
        *(two.change(UID, add(f"b{n}")) for n in range(20)),  # type: ignore[arg-type]
    )
    assert len((await one.read(UID)).keys) == 40


async def test_a_refusal_is_decided_on_the_record_as_it_is_not_as_remembered(
    endpoint: VaultEndpoint, keymint_token: str, prefix: str
) -> None:
    ops: Counter[str] = Counter()
    one = AccountStore(counted_kv(endpoint, keymint_token, prefix, ops))
    two = AccountStore(counted_kv(endpoint, keymint_token, prefix, ops))
    await one.change(UID, add("seen-by-one"))  # type: ignore[arg-type]
    await two.change(UID, add("made-by-two"))  # type: ignore[arg-type]

    def settle(account: Account) -> str:
        found = account.keys.get("made-by-two")
        if found is None:
            raise LookupError("no such entry")
        account.keys["made-by-two"] = found.model_copy(update={"state": KeyState.ACTIVE})
        return "settled"

    # `one` remembers the record without two's entry: deciding on that would refuse.
    assert await one.change(UID, settle) == "settled"
    assert await one.change(UID, lambda a: "made-by-two" in a.keys) is True
    assert (await two.read(UID)).keys["made-by-two"].state is KeyState.ACTIVE
