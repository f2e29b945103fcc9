"""Deleting a key at Bybit, for every reason keymint has (expiry, revocation, rotation, a trimmed
pool, an orphan), by one protocol on the sub-account record:

1. claim: one check-and-set marks the entry `revoking` with a claim naming this replica, after
   `expect` has accepted the entry as it is now. A concurrent hand-out, renewal or revocation
   changes the record first and the claim re-decides on what it did, so nothing a concurrent
   operation owns is deleted, and only one replica talks to Bybit about a key at a time;
2. delete at Bybit, confirmed by listing (the adapter's one delete-and-confirm);
3. release: one check-and-set drops the entry, or records the failure with its next attempt,
   after which the leader's sweep retries it whatever the key's expiry.

Concurrent retirements of one key on one replica share one attempt; on another replica they
find the claim and wait for its outcome instead of deleting again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog

from keymint.engine.dynamic.lease import lease_id
from keymint.engine.events import EngineEvents
from keymint.engine.keys.account import Account, Claim, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.leader import Fence
from keymint.engine.ports import Bybit, BybitFailure
from keymint.errors import KeymintError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for deletions Bybit did not confirm: exponential up to `cap_s`, then, after
    `max_attempts`, the key is irrevocable and retried every `irrevocable_every_s`."""

    max_attempts: int = 8
    base_s: float = 5.0
    cap_s: float = 3600.0
    irrevocable_every_s: float = 86400.0
    # How long a request's claim keeps others away while it talks to Bybit: longer than a
    # delete and its confirming list take, retries included.
    claim_s: float = 60.0

    def delay(self, attempts: int) -> float:
        if attempts >= self.max_attempts:
            return self.irrevocable_every_s
        return float(min(self.cap_s, self.base_s * 2 ** (attempts - 1)))


class Outcome(StrEnum):
    DELETED = "deleted"
    # Bybit did not confirm; the entry is `revoking` (or irrevocable) and will be retried.
    PENDING = "pending"
    # Another replica holds the claim.
    BUSY = "busy"
    # No such key in the record (already deleted).
    GONE = "gone"
    # `expect` refused the entry as it is now (renewed, handed out, changed).
    DECLINED = "declined"


@dataclass(frozen=True)
class Retired:
    outcome: Outcome
    entry: KeyEntry | None = None
    error: str | None = None


Expect = Callable[[KeyEntry], bool]


def anything(_: KeyEntry) -> bool:
    return True


class KeyDeleter:
    def __init__(
        self,
        store: AccountStore,
        bybit: Bybit,
        *,
        holder: str,
        retry: RetryPolicy,
        events: EngineEvents,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bybit = bybit
        self._holder = holder
        self.retry = retry
        self._events = events
        self._clock = clock
        self._inflight: dict[tuple[int, str], asyncio.Task[Retired]] = {}

    async def retire(
        self,
        uid: int,
        key: str,
        *,
        reason: str,
        expect: Expect = anything,
        fence: Fence | None = None,
        orphan: KeyEntry | None = None,
        api_key: str = "",
    ) -> Retired:
        """Delete the key, or say why not. `orphan` stands for a key Bybit lists with no entry:
        it is claimed (recorded) as it is deleted, so a crash before the delete leaves it to be
        retried rather than forgotten. `api_key` is Bybit's id for a key whose entry never
        learned it (a mint that crashed between Bybit's create and its settling)."""
        running = self._inflight.get((uid, key))
        if running is not None:
            return await asyncio.shield(running)
        task = asyncio.create_task(self._retire(uid, key, reason, expect, fence, orphan, api_key))
        self._inflight[(uid, key)] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._inflight.pop((uid, key), None)
            else:
                task.add_done_callback(lambda _: self._inflight.pop((uid, key), None))

    async def _retire(
        self,
        uid: int,
        key: str,
        reason: str,
        expect: Expect,
        fence: Fence | None,
        orphan: KeyEntry | None,
        api_key: str,
    ) -> Retired:
        term = fence.term if fence is not None else 0
        now = self._clock()
        claim = Claim(holder=self._holder, term=term, until=now + self.retry.claim_s)

        def take(account: Account) -> Retired:
            found = account.keys.get(key) or orphan
            if found is None:
                return Retired(Outcome.GONE)
            if not expect(found):
                return Retired(Outcome.DECLINED, found)
            # A live claim of this replica's own is a previous incarnation's: concurrent calls
            # in this process share one attempt instead.
            claim_held = found.claim is not None and found.claimed(now, term=term)
            if claim_held and found.claim.holder != self._holder:  # type: ignore[union-attr]
                return Retired(Outcome.BUSY, found)
            claimed = found.model_copy(
                update={
                    "state": KeyState.IRREVOCABLE
                    if found.state is KeyState.IRREVOCABLE
                    else KeyState.REVOKING,
                    "reason": found.reason or reason,
                    "api_key": found.api_key or api_key,
                    "api_secret": None,
                    "claim": claim,
                }
            )
            account.keys[key] = claimed
            return Retired(Outcome.PENDING, claimed)

        taken = await self._store.change(uid, take)
        if taken.outcome is not Outcome.PENDING:
            return taken
        assert taken.entry is not None
        entry = taken.entry
        try:
            if fence is not None:
                fence.check(f"deleting key {entry.note}")
            if entry.api_key:
                await self._bybit.delete_key(entry.api_key, uid)
        except BybitFailure as exc:
            return await self._failed(uid, entry, claim, exc.message, reason)
        await self._store.change(uid, _drop_if(key, claim))
        lifetime = now - entry.created_at if entry.created_at is not None else None
        self._events.key_deleted(entry.role, reason, ok=True, lifetime_s=lifetime)
        _audit_deleted(uid, entry, reason)
        return Retired(Outcome.DELETED, entry)

    async def _failed(
        self, uid: int, entry: KeyEntry, claim: Claim, error: str, reason: str
    ) -> Retired:
        now = self._clock()
        attempts = entry.attempts + 1
        irrevocable = attempts >= self.retry.max_attempts
        message = f"key deletion at Bybit not confirmed: {error}"

        def record(account: Account) -> KeyEntry | None:
            found = account.keys.get(entry.key)
            if found is None or found.claim != claim:
                return None
            failed = found.model_copy(
                update={
                    "attempts": attempts,
                    "last_error": message,
                    "state": KeyState.IRREVOCABLE if irrevocable else KeyState.REVOKING,
                    "next_attempt_at": now + self.retry.delay(attempts),
                    "claim": None,
                }
            )
            account.keys[entry.key] = failed
            return failed

        try:
            failed = await self._store.change(uid, record)
        except KeymintError as exc:
            # The claim lapses by itself; the sweep retries then.
            log.warning("deletion_failure_unrecorded", subaccount=uid, error=exc.message)
            failed = None
        self._events.key_deleted(entry.role, reason, ok=False, lifetime_s=None)
        log.warning(
            "revocation_failed",
            audit=True,
            subaccount=uid,
            api_key=entry.api_key,
            role=entry.role,
            owner=entry.owner.value,
            lease_id=lease_id(entry.role, uid, entry.key) if entry.owner is Owner.LEASE else None,
            attempts=attempts,
            irrevocable=irrevocable,
            error=message,
        )
        return Retired(Outcome.PENDING, failed or entry, message)

    async def wait_settled(self, uid: int, key: str, *, deadline_s: float) -> Retired:
        """For a key another replica is deleting: poll its record until the claim is gone."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline_s
        delay = 0.05
        while True:
            found = (await self._store.read(uid)).keys.get(key)
            if found is None:
                return Retired(Outcome.DELETED)
            if not found.claimed(self._clock()):
                return Retired(Outcome.PENDING, found, found.last_error)
            if loop.time() >= until:
                return Retired(Outcome.BUSY, found)
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


def _audit_deleted(uid: int, entry: KeyEntry, reason: str) -> None:
    """The audit line of every key deleted at Bybit, whatever deleted it: a lease's names the
    lease and its holder; never the secret."""
    caller = entry.caller
    log.info(
        "lease_revoked" if entry.owner is Owner.LEASE else "key_deleted",
        audit=True,
        lease_id=lease_id(entry.role, uid, entry.key) if entry.owner is Owner.LEASE else None,
        owner=entry.owner.value,
        role=entry.role,
        api_key=entry.api_key,
        subaccount=uid,
        caller=caller.display_name if caller else None,
        entity_id=caller.entity_id if caller else None,
        reason=reason,
        outcome="revoked",
    )


def _drop_if(key: str, claim: Claim) -> Callable[[Account], None]:
    def drop(account: Account) -> None:
        found = account.keys.get(key)
        if found is not None and found.claim == claim:
            del account.keys[key]

    return drop
