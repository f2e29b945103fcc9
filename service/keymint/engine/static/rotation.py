"""Static roles' keys: one long-lived Bybit key per role, replaced on a schedule with an overlap.

A role's rotation state, and the view bots read, is one record at `static-creds/<name>`
(`StaticCreds`). Bots may read it straight from Vault, e.g. in a Vault Agent template:

    {{ with secret "secret/data/keymint/static-creds/<name>" }}
    {{ .Data.data.current.api_key }} {{ .Data.data.current.api_secret }}{{ end }}

The keys themselves are entries of the sub-account record, like every key keymint holds. A
rotation never leaves the role without a working key:
1. the key factory reserves the new key's entry (the write-ahead intent) and creates the key;
   if that fails the current key stays, the failure is recorded and retried after a backoff;
2. the new key is published as current with check-and-set on the generation read, the old one
   staying valid as `previous` until `delete_after`; then its entry turns active. A replica that
   loses the race deletes the key it created, so racing replicas rotate once;
3. once the overlap is over, the previous key is deleted (the one deletion protocol), and
   dropped from the record. A failed delete keeps it listed and is retried after a backoff.
Scheduled rotations run on the leader and check its fence before every write at Bybit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog
from pydantic import BaseModel, Field

from keymint.engine.events import EngineEvents
from keymint.engine.keys.account import KeyEntry, KeyState, Owner
from keymint.engine.keys.deletion import KeyDeleter
from keymint.engine.keys.deletion import Outcome as Deletion
from keymint.engine.keys.factory import KeyFactory, MadeKey, fixed_pool
from keymint.engine.leader import Fence, LeaderLost
from keymint.engine.ports import KV
from keymint.engine.records import data_of, with_cas_retry
from keymint.engine.static.role import StaticRole, StaticRoleStore
from keymint.errors import Conflict, KeymintError, UpstreamError

log = structlog.get_logger(__name__)

# Failed rotations and deletions back off like this; the current key keeps working meanwhile.
RETRY_BASE_S = 30.0
RETRY_CAP_S = 3600.0


def retry_delay(failures: int) -> float:
    return float(min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (failures - 1)))


def static_creds_path(name: str) -> str:
    return f"static-creds/{name}"


class StaticKey(BaseModel):
    """One Bybit key of a static role. Times are Unix seconds."""

    key: str = Field(description="keymint's id for the key: its entry and note suffix")
    api_key: str
    api_secret: str = Field(repr=False)
    subaccount_uid: int
    created_at: float
    note: str


class PreviousKey(StaticKey):
    delete_after: float = Field(description="When keymint deletes it: the overlap's end")
    delete_failures: int = 0
    last_error: str | None = None


class StaticCreds(BaseModel):
    """The record bots read. `current` is None only until the role's first key exists."""

    current: StaticKey | None = None
    previous: PreviousKey | None = None
    generation: int = 0
    last_rotated_at: float | None = None
    next_rotation_at: float = 0.0
    last_error: str | None = Field(default=None, description="Why the last rotation failed")
    failures: int = Field(default=0, description="Rotations failed since the last success")

    def holds(self, key: str) -> bool:
        return any(k is not None and k.key == key for k in (self.current, self.previous))


class Outcome(StrEnum):
    ROTATED = "rotated"
    # The next key could not be created; the current one stays, retried after a backoff.
    FAILED = "failed"
    # Another replica rotated first; the key this one created was deleted.
    SUPERSEDED = "superseded"
    PREVIOUS_DELETED = "previous_deleted"
    DELETE_FAILED = "delete_failed"


@dataclass(frozen=True)
class RotationOutcome:
    role: str
    outcome: Outcome
    generation: int
    api_key: str | None = None
    error: KeymintError | None = None


Change = Callable[[StaticCreds], StaticCreds | None]


def _key_shape(role: StaticRole) -> dict[str, object]:
    return role.model_dump(include={"subaccount_uid", "permissions", "ips", "read_only"})


class StaticRotator:
    """Rotates static roles' keys. `counts` keeps outcomes for tests and the bench."""

    def __init__(
        self,
        kv: KV,
        roles: StaticRoleStore,
        factory: KeyFactory,
        deleter: KeyDeleter,
        events: EngineEvents,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.roles = roles
        self.counts: Counter[Outcome] = Counter()
        self._kv = kv
        self._factory = factory
        self._deleter = deleter
        self._events = events
        self._clock = clock

    async def state(self, name: str) -> StaticCreds:
        state, _ = await self._read(name)
        return state

    async def rotate(self, name: str, *, reason: str, now: float | None = None) -> RotationOutcome:
        """Replace the key now. A previous key still inside its overlap is deleted first, its
        overlap cut short, so a role never holds more than two keys."""
        role = (await self.roles.get(name)).role
        outcome = await self._rotate(role, reason=reason, now=self._now(now), fence=None)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def applied(
        self, role: StaticRole, replaced: StaticRole | None
    ) -> RotationOutcome | None:
        """After a definition is written: create its first key, or a new key when what the key is
        made of changed; a new rotation_period moves the next rotation."""
        state, _ = await self._read(role.name)
        now = self._clock()
        if state.current is None or (
            replaced is not None and _key_shape(replaced) != _key_shape(role)
        ):
            return await self._rotate(role, reason="definition written", now=now, fence=None)
        if replaced is not None and replaced.rotation_period != role.rotation_period:

            def reschedule(s: StaticCreds) -> StaticCreds | None:
                if s.failures or s.last_rotated_at is None:
                    return None
                return s.model_copy(
                    update={"next_rotation_at": s.last_rotated_at + role.rotation_period}
                )

            await self._update(role.name, reschedule)
        return None

    async def rotate_due(
        self, fence: Fence | None = None, *, now: float | None = None
    ) -> list[RotationOutcome]:
        """What the leader runs: end the overlaps that are over, then rotate every role whose
        `next_rotation_at` has come (a new role gets its first key). A role whose previous key
        is still held waits for it to go. The scheduler passes the leader's fence; without one
        (a test, an operator's tool) racing rotators still rotate once, by check-and-set."""
        now = self._now(now)
        try:
            outcomes = await self.finish_overlaps(fence, now=now)
            for name, role in (await self.roles.all()).items():
                state, _ = await self._read(name)
                if state.previous is None and state.next_rotation_at <= now:
                    if fence is not None:
                        fence.check(f"rotating static role {name!r}")
                    outcomes.append(
                        await self._replace_current(
                            role, state.generation, now, reason="scheduled", fence=fence
                        )
                    )
        except LeaderLost:
            return []
        return outcomes

    async def finish_overlaps(
        self, fence: Fence | None = None, *, now: float | None = None
    ) -> list[RotationOutcome]:
        """Delete the previous keys whose overlap has ended."""
        now = self._now(now)
        outcomes = []
        for name in await self._kv.list(static_creds_path("")):
            state, _ = await self._read(name)
            if state.previous is not None and state.previous.delete_after <= now:
                outcomes.append(
                    await self._delete_previous(
                        name, state.generation, state.previous, now, reason="overlap", fence=fence
                    )
                )
        return outcomes

    async def last_rotations(self) -> dict[str, float]:
        """When each static role's key was last replaced, for the state gauges."""
        rotated = {}
        for name in await self.roles.names():
            state, _ = await self._read(name)
            if state.last_rotated_at:
                rotated[name] = state.last_rotated_at
        return rotated

    async def delete(self, name: str) -> None:
        """Delete the role's keys at Bybit, then its records. While Bybit refuses, everything
        stays recorded, so no live key is ever forgotten."""
        self.roles.ensure_writable(name, "deleted")
        await self.roles.get(name)
        state, version = await self._read(name)
        held = [k for k in (state.previous, state.current) if k is not None]
        for key in held:
            retired = await self._deleter.retire(key.subaccount_uid, key.key, reason="deleted")
            if retired.outcome not in (Deletion.DELETED, Deletion.GONE):
                raise UpstreamError(
                    f"deleting a key of static role {name!r}: "
                    f"{retired.error or 'another request is deleting it'}; nothing was forgotten, "
                    "retry"
                )
        if version:
            await self._kv.delete(static_creds_path(name), cas=version)
        await self.roles.remove(name)
        log.info("static_role_deleted", role=name, api_keys=[k.api_key for k in held])

    async def _rotate(
        self, role: StaticRole, *, reason: str, now: float, fence: Fence | None
    ) -> RotationOutcome:
        state, _ = await self._read(role.name)
        if state.previous is not None:
            deleted = await self._delete_previous(
                role.name, state.generation, state.previous, now, reason=reason, fence=fence
            )
            if deleted.error is not None:
                return deleted
        return await self._replace_current(role, state.generation, now, reason=reason, fence=fence)

    async def _replace_current(
        self, role: StaticRole, generation: int, now: float, *, reason: str, fence: Fence | None
    ) -> RotationOutcome:
        try:
            made = await self._factory.make(
                role, owner=Owner.STATIC, pool=fixed_pool([role.subaccount_uid]), fence=fence
            )
        except LeaderLost:
            raise
        except KeymintError as exc:
            return await self._failed(role.name, generation, exc, now, reason=reason)
        fresh = StaticKey(
            key=made.entry.key,
            api_key=made.entry.api_key,
            api_secret=made.secret.get_secret_value(),
            subaccount_uid=made.uid,
            created_at=now,
            note=made.entry.note,
        )

        def publish(s: StaticCreds) -> StaticCreds | None:
            if s.generation != generation or s.previous is not None:
                return None
            previous = None
            if s.current is not None:
                previous = PreviousKey.model_validate(
                    {**s.current.model_dump(), "delete_after": now + role.overlap}
                )
            return StaticCreds(
                current=fresh,
                previous=previous,
                generation=generation + 1,
                last_rotated_at=now,
                next_rotation_at=now + role.rotation_period,
            )

        try:
            published = await self._update(role.name, publish)
        except KeymintError:
            await self._factory.discard(made)
            raise
        if published is None:
            await self._factory.discard(made)
            lost = Conflict(
                f"static role {role.name!r} was rotated by another request at the same time; "
                "its static-creds show the key that won"
            )
            return self._emit(
                RotationOutcome(role.name, Outcome.SUPERSEDED, generation, None, lost), reason
            )
        await self._activate(made)
        outcome = RotationOutcome(role.name, Outcome.ROTATED, published.generation, fresh.api_key)
        return self._emit(outcome, reason)

    async def _activate(self, made: MadeKey) -> None:
        """The published key's entry turns active. If Vault fails here, the key is already in
        static-creds, so it must not be deleted: reconciliation finds the `minting` entry
        referenced by static-creds and settles it."""

        def active(entry: KeyEntry) -> KeyEntry:
            return entry.model_copy(update={"state": KeyState.ACTIVE})

        try:
            await self._factory.settle(made, active, discard=False)
        except KeymintError as exc:
            log.warning("static_key_unsettled", note=made.entry.note, error=exc.message)

    async def _failed(
        self, name: str, generation: int, error: KeymintError, now: float, *, reason: str
    ) -> RotationOutcome:
        def record(s: StaticCreds) -> StaticCreds | None:
            if s.generation != generation:
                return None
            failures = s.failures + 1
            return s.model_copy(
                update={
                    "failures": failures,
                    "last_error": error.message,
                    "next_rotation_at": now + retry_delay(failures),
                }
            )

        await self._update(name, record)
        return self._emit(RotationOutcome(name, Outcome.FAILED, generation, None, error), reason)

    async def _delete_previous(
        self,
        name: str,
        generation: int,
        previous: PreviousKey,
        now: float,
        *,
        reason: str,
        fence: Fence | None,
    ) -> RotationOutcome:
        retired = await self._deleter.retire(
            previous.subaccount_uid, previous.key, reason="rotated", fence=fence
        )
        error: KeymintError | None = None
        if retired.outcome not in (Deletion.DELETED, Deletion.GONE):
            error = UpstreamError(
                f"deleting the previous key of static role {name!r}: "
                f"{retired.error or 'another request is deleting it'}"
            )

        def settle(s: StaticCreds) -> StaticCreds | None:
            held = s.previous
            if held is None or held.key != previous.key:
                return None
            if error is None:
                return s.model_copy(update={"previous": None})
            failures = held.delete_failures + 1
            retry = {
                "delete_failures": failures,
                "last_error": error.message,
                "delete_after": now + retry_delay(failures),
            }
            return s.model_copy(update={"previous": held.model_copy(update=retry)})

        await self._update(name, settle)
        done = Outcome.PREVIOUS_DELETED if error is None else Outcome.DELETE_FAILED
        return self._emit(RotationOutcome(name, done, generation, previous.api_key, error), reason)

    async def _read(self, name: str) -> tuple[StaticCreds, int]:
        data, version = data_of(await self._kv.read(static_creds_path(name)))
        return StaticCreds.model_validate(data), version

    async def _update(self, name: str, change: Change) -> StaticCreds | None:
        """Apply `change` with check-and-set, re-reading on conflict; None: it declined."""

        async def attempt() -> StaticCreds | None:
            state, version = await self._read(name)
            changed = change(state)
            if changed is not None:
                path = static_creds_path(name)
                await self._kv.write(path, changed.model_dump(mode="json"), cas=version)
            return changed

        return await with_cas_retry(attempt, what=f"updating static role {name!r}")

    def _emit(self, outcome: RotationOutcome, reason: str) -> RotationOutcome:
        self.counts[outcome.outcome] += 1
        self._events.rotated(outcome.role, outcome.outcome.value)
        event = {
            "role": outcome.role,
            "outcome": outcome.outcome.value,
            "generation": outcome.generation,
            "api_key": outcome.api_key,
            "reason": reason,
        }
        if outcome.error is None:
            log.info("static_rotation", **event)
        else:
            log.warning("static_rotation", **event, error=outcome.error.message)
        return outcome

    def now(self) -> float:
        return self._clock()

    def _now(self, now: float | None) -> float:
        return self.now() if now is None else now
