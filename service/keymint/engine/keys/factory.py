"""The one way keymint creates a key, for leases, warm pools and static roles alike.

1. Reserve: an entry in state `minting` goes into the sub-account record (with room checked in
   the same check-and-set) before Bybit is called. It carries the key's note, so a crash at any
   later point leaves something reconciliation can find at Bybit and delete.
2. Create at Bybit, paced to Bybit's create rate.
3. The owner settles the entry into its final state (`settle`), in one more check-and-set.

A refusal that may mean the sub-account is at Bybit's key cap is confirmed by listing the
sub-account; only then is its foreign-key count corrected and the next sub-account tried.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from pydantic import SecretStr

from keymint.engine.dynamic.role import Role
from keymint.engine.keys.account import Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.capacity import NoRoom, by_room, exhausted
from keymint.engine.keys.notes import new_key_id, note_for
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.leader import Fence
from keymint.engine.ports import Bybit, BybitFailure, CreatedKey, CreateLost, KeyCapSuspected
from keymint.engine.templates import KeyTemplate
from keymint.engine.upstream import translate
from keymint.errors import KeymintError, TooManyRequests, Unavailable

log = structlog.get_logger(__name__)

PoolSource = Callable[[], Awaitable[list[int]]]


@dataclass(frozen=True)
class MadeKey:
    """A key Bybit made, whose entry on `uid` is still `minting` until settled."""

    uid: int
    entry: KeyEntry
    secret: SecretStr = field(repr=False)


class Superseded(KeymintError):
    """The entry a change expected is gone or changed (another request or pass took it)."""

    status_code = 409


def fixed_pool(uids: list[int]) -> PoolSource:
    async def pool() -> list[int]:
        return uids

    return pool


class KeyFactory:
    def __init__(
        self,
        store: AccountStore,
        bybit: Bybit,
        provisioner: Provisioner,
        *,
        key_limit: int,
        create_rate_per_s: float,
        max_queue_wait_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bybit = bybit
        self._provisioner = provisioner
        self._limit = key_limit
        self._rate = create_rate_per_s
        self._max_wait_s = max_queue_wait_s
        self._clock = clock
        self._queued = 0

    async def make(
        self,
        template: KeyTemplate,
        *,
        owner: Owner,
        pool: PoolSource,
        grow: Role | None = None,
        digest: str = "",
        fence: Fence | None = None,
    ) -> MadeKey:
        key = new_key_id()
        entry = KeyEntry(
            key=key,
            owner=owner,
            role=template.name,
            note=note_for(template.note_prefix, key),
            state=KeyState.MINTING,
            reserved_at=self._clock(),
            permissions=template.permissions,
            ips=template.ips,
            read_only=template.read_only,
            role_digest=digest,
        )
        confirmed_full: set[int] = set()
        while True:
            uid = await self._reserve(entry, pool, grow, confirmed_full)
            try:
                if fence is not None:
                    fence.check(f"creating a key for {template.kind} {template.name!r}")
                created = await self._paced_create(uid, template, entry)
            except KeyCapSuspected as exc:
                if await self._cap_confirmed(uid, entry):
                    confirmed_full.add(uid)
                    continue
                await self._release(uid, key)
                raise translate(exc, doing=f"minting a key for role {template.name!r}") from None
            except CreateLost as exc:
                if exc.key_may_exist:
                    # The entry stays `minting`: reconciliation finds the key by its note.
                    log.error("mint_outcome_unknown", subaccount=uid, key=key)
                else:
                    await self._release(uid, key)
                raise translate(exc, doing=f"minting a key for role {template.name!r}") from None
            except BybitFailure as exc:
                await self._release(uid, key)
                raise translate(exc, doing=f"minting a key for role {template.name!r}") from None
            except BaseException:
                await self._release(uid, key)
                raise
            made = entry.model_copy(
                update={"api_key": created.api_key, "created_at": self._clock()}
            )
            return MadeKey(uid=uid, entry=made, secret=created.secret)

    async def settle(
        self, made: MadeKey, final: Callable[[KeyEntry], KeyEntry], *, discard: bool = True
    ) -> KeyEntry:
        """Turn the `minting` entry into `final(entry)`. If that cannot be recorded, the key is
        deleted so that none lives at Bybit without its owner; with `discard=False` (the owner
        already recorded it elsewhere) reconciliation settles it later instead."""

        def apply(account: Account) -> KeyEntry:
            found = account.keys.get(made.entry.key)
            if found is None or found.state is not KeyState.MINTING:
                raise Superseded(f"the reservation of key {made.entry.note} was taken over")
            settled = final(made.entry)
            account.keys[made.entry.key] = settled
            return settled

        try:
            return await self._store.change(made.uid, apply)
        except KeymintError:
            if not discard:
                raise
            await self.discard(made)
            raise Unavailable(
                "the key was created but its record could not be stored; it was deleted "
                "(or reconciliation deletes it)"
            ) from None

    async def discard(self, made: MadeKey) -> None:
        """Delete a key that was never settled, then its reservation."""
        try:
            await self._bybit.delete_key(made.entry.api_key, made.uid)
            await self._release(made.uid, made.entry.key)
        except (BybitFailure, KeymintError) as exc:
            # The entry still names the note: reconciliation deletes the key by it.
            log.error("key_discard_failed", subaccount=made.uid, error_class=type(exc).__name__)

    async def _reserve(
        self, entry: KeyEntry, pool: PoolSource, grow: Role | None, full: set[int]
    ) -> int:
        def add(account: Account) -> None:
            if account.room(self._limit) <= 0:
                raise NoRoom
            account.keys[entry.key] = entry

        async def first_with_room(uids: list[int]) -> int | None:
            for uid in uids:
                try:
                    await self._store.change(uid, add)
                    return uid
                except NoRoom:
                    continue
            return None

        while True:
            members = [uid for uid in await pool() if uid not in full]
            uid = await first_with_room(await by_room(self._store, members, limit=self._limit))
            if uid is None:
                # What this replica last saw may be stale, or its sample full: look at the
                # whole pool for real.
                accounts = await self._store.read_many(members)
                roomy = sorted(
                    (a for a in accounts if a.room(self._limit) > 0),
                    key=lambda a: -a.room(self._limit),
                )
                uid = await first_with_room([a.uid for a in roomy])
            if uid is not None:
                return uid
            if grow is not None and await self._provisioner.provision(grow) is not None:
                continue
            raise exhausted(entry.role, accounts, limit=self._limit, now=self._clock())

    async def _paced_create(self, uid: int, template: KeyTemplate, entry: KeyEntry) -> CreatedKey:
        """Bybit creates one key per second per master: queue fairly behind that, but refuse
        with a Retry-After rather than make a caller wait longer than configured."""
        wait_s = self._queued / self._rate
        if wait_s > self._max_wait_s:
            raise TooManyRequests(
                f"{template.kind} {template.name!r}: {self._queued} keys are queued behind "
                f"Bybit's limit of {self._rate:g} new key(s) per second; retry later",
                retry_after_s=math.ceil(wait_s),
            )
        self._queued += 1
        try:
            return await self._bybit.create_key(uid, note=entry.note, spec=entry.spec)
        finally:
            self._queued -= 1

    async def _cap_confirmed(self, uid: int, entry: KeyEntry) -> bool:
        """Whether Bybit's listing shows the sub-account full; if so, the record learns how many
        of its keys are foreign. A listing that fails confirms nothing."""
        try:
            listed = await self._bybit.list_keys(uid)
        except BybitFailure:
            return False
        if len(listed) < self._limit:
            return False

        def count(account: Account) -> None:
            account.keys.pop(entry.key, None)
            ours = {e.note for e in account.keys.values()} | {
                e.api_key for e in account.keys.values() if e.api_key
            }
            account.foreign_keys = sum(1 for k in listed if not {k.note, k.api_key} & ours)

        await self._store.change(uid, count)
        log.warning("subaccount_full", subaccount=uid, keys_at_bybit=len(listed))
        return True

    async def _release(self, uid: int, key: str) -> None:
        def drop(account: Account) -> None:
            found = account.keys.get(key)
            if found is not None and found.state is KeyState.MINTING:
                del account.keys[key]

        await self._store.change(uid, drop)
