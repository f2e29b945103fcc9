"""The sub-account records in Vault, changed only by check-and-set, with group commit.

`change(uid, fn)` applies `fn` to the record and writes it back with check-and-set on the
version it was applied to; on a conflict it re-reads and applies `fn` again, so `fn` decides on
the record as it is, never on a stale read. `fn` replaces entries (they are frozen) and returns
its result, or raises to refuse, which writes nothing for it.

Concurrent changes to one record on one replica are coalesced: while a write is in flight, the
next changes queue, and are then applied together and written once (group commit), so a fleet
of bots starting together on a few sub-accounts makes a few writes, not hundreds of conflicts.

The last version this replica read or wrote is kept, so a change usually needs no read: the
write names that version and fails harmlessly if another replica wrote since. A change that
writes nothing (a refusal, an answer) is only delivered once decided on a fresh read, since no
write proved the remembered record current.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keymint.engine.keys.account import Account, KeyEntry
from keymint.engine.ports import KV
from keymint.errors import Conflict

R = TypeVar("R")

FOLDER = "keys/"
# Conflicting writes before a change gives up; each retry re-reads and re-applies.
ATTEMPTS = 10


def account_path(uid: int) -> str:
    return f"{FOLDER}{uid}"


@dataclass
class _Pending:
    fn: Callable[[Account], Any]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class AccountStore:
    def __init__(self, kv: KV) -> None:
        self._kv = kv
        self._known: dict[int, tuple[Account, int]] = {}
        self._seen_at: dict[int, float] = {}
        self._queues: dict[int, list[_Pending]] = {}
        self._committers: dict[int, asyncio.Task[None]] = {}

    async def read(self, uid: int) -> Account:
        """The record as Vault has it now (an empty one for a sub-account never used)."""
        account, _ = await self._fetch(uid)
        return account

    async def read_many(self, uids: list[int]) -> list[Account]:
        return list(await asyncio.gather(*(self.read(uid) for uid in uids)))

    async def last_seen(self, uid: int, *, max_age_s: float = float("inf")) -> Account:
        """The record as this replica last saw it (read when not seen within `max_age_s`): a
        hint for choosing where to act, never a basis for a decision, since every change
        re-decides under check-and-set."""
        known = self._known.get(uid)
        fresh = time.monotonic() - self._seen_at.get(uid, -max_age_s) < max_age_s
        return known[0] if known is not None and fresh else await self.read(uid)

    async def last_seen_many(
        self, uids: list[int], *, max_age_s: float = float("inf")
    ) -> list[Account]:
        return list(
            await asyncio.gather(*(self.last_seen(uid, max_age_s=max_age_s) for uid in uids))
        )

    async def uids(self) -> list[int]:
        """Every sub-account that has a record."""
        return sorted(int(name) for name in await self._kv.list(FOLDER) if name.isdigit())

    async def change(self, uid: int, fn: Callable[[Account], R]) -> R:
        pending = _Pending(fn)
        self._queues.setdefault(uid, []).append(pending)
        if uid not in self._committers:
            # Its own task, so a caller that goes away does not abandon the others' changes.
            self._committers[uid] = asyncio.create_task(self._commit_queue(uid))
        result: R = await pending.future
        return result

    async def _commit_queue(self, uid: int) -> None:
        try:
            while batch := self._queues.pop(uid, []):
                await self._commit(uid, batch)
        finally:
            del self._committers[uid]

    async def _commit(self, uid: int, batch: list[_Pending]) -> None:
        fresh = False
        for attempt in range(ATTEMPTS):
            try:
                known = self._known.get(uid) if not fresh else None
                if known is None:
                    known, fresh = await self._fetch(uid), True
                account, version = known
                working, outcomes = _apply(account, batch)
                if working != account:
                    written = await self._kv.write(account_path(uid), encode(working), cas=version)
                    self._remember(uid, working, written)
                elif not fresh:
                    # Nothing to write, so nothing proved the remembered record current: its
                    # refusals and answers may be stale. Decide again on a fresh read.
                    fresh = True
                    continue
            except Conflict:
                fresh = True
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            except Exception as exc:
                self._known.pop(uid, None)
                _settle(batch, [(None, exc)] * len(batch))
                return
            _settle(batch, outcomes)
            return
        busy = Conflict(f"sub-account {uid}: too many concurrent changes, try again")
        _settle(batch, [(None, busy)] * len(batch))

    async def _fetch(self, uid: int) -> tuple[Account, int]:
        found = await self._kv.read(account_path(uid))
        if found is None:
            account, version = Account(uid=uid), 0
        else:
            account, version = decode(uid, found.data), found.version
        self._remember(uid, account, version)
        return account, version

    def _remember(self, uid: int, account: Account, version: int) -> None:
        # A read that started before a write may answer after it: never step back a version.
        known = self._known.get(uid)
        if known is not None and known[1] > version:
            return
        self._known[uid] = (account, version)
        self._seen_at[uid] = time.monotonic()


def encode(account: Account) -> dict[str, Any]:
    """Each entry as one JSON string: OpenBao refuses request bodies with too many strings
    (its JSON complexity limit), and a full record of nested entries would come near it."""
    return {
        "foreign_keys": account.foreign_keys,
        "keys": {
            key: entry.model_dump_json(exclude_defaults=True) for key, entry in account.keys.items()
        },
    }


def decode(uid: int, data: dict[str, Any]) -> Account:
    return Account(
        uid=uid,
        foreign_keys=int(data.get("foreign_keys", 0)),
        keys={
            key: KeyEntry.model_validate_json(text)
            for key, text in dict(data.get("keys", {})).items()
        },
    )


def _apply(
    account: Account, batch: list[_Pending]
) -> tuple[Account, list[tuple[Any, BaseException | None]]]:
    """Each change in turn on the result of the ones before; a refusing change leaves the
    record as it found it."""
    working = account
    outcomes: list[tuple[Any, BaseException | None]] = []
    for pending in batch:
        trial = working.model_copy(update={"keys": dict(working.keys)})
        try:
            outcomes.append((pending.fn(trial), None))
        except Exception as exc:
            outcomes.append((None, exc))
            continue
        working = trial
    return working, outcomes


def _settle(batch: list[_Pending], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    for pending, (result, error) in zip(batch, outcomes, strict=True):
        if pending.future.done():
            continue  # its caller went away
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)
