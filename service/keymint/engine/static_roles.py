"""Static roles: one long-lived Bybit key per role, replaced on a schedule with an overlap.

A role's state is one record at `static-creds/<name>` (`StaticCreds`). Bots may read it
straight from Vault, e.g. in a Vault Agent template:

    {{ with secret "secret/data/keymint/static-creds/<name>" }}
    {{ .Data.data.current.api_key }} {{ .Data.data.current.api_secret }}{{ end }}

A rotation never leaves the role without a working key:
1. reserve a ledger slot naming the new key's note (the write-ahead intent), then create the key;
   if either fails the current key stays current, the failure is recorded and the rotation is
   retried after a backoff;
2. publish the new key as current with check-and-set on the generation read, the old current
   staying valid as `previous` until `delete_after`. A replica that loses this race deletes the
   key it created, so racing replicas rotate once and leave no extra key behind;
3. once the overlap is over, delete the previous key at Bybit, drop it from the record and
   release its slot. A failed delete keeps it listed, and it is retried after a backoff.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog
from pydantic import BaseModel, Field

from keymint.bybit.errors import BybitError
from keymint.engine.capacity import SlotKind, release_slot
from keymint.engine.creds import Issuer
from keymint.engine.deletion import delete_and_confirm
from keymint.engine.master import MasterKey
from keymint.engine.ports import KV
from keymint.engine.role_store import DefinitionStore
from keymint.engine.roles import StaticRole
from keymint.engine.store import data_of, static_creds_path, static_role_path, with_cas_retry
from keymint.engine.upstream import translate
from keymint.errors import Conflict, KeymintError, NotFound

log = structlog.get_logger(__name__)

# Failed rotations and deletions back off like this; the current key keeps working meanwhile.
RETRY_BASE_S = 30.0
RETRY_CAP_S = 3600.0


def retry_delay(failures: int) -> float:
    return float(min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (failures - 1)))


class StaticRoleStore(DefinitionStore[StaticRole]):
    def __init__(self, kv: KV, file_roles: dict[str, StaticRole]) -> None:
        super().__init__(kv, file_roles, model=StaticRole, path=static_role_path)


class StaticKey(BaseModel):
    """One Bybit key of a static role. Times are Unix seconds."""

    key: str = Field(description="keymint's id for the key: its ledger slot and note suffix")
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
    """Rotates static roles' keys. `counts` and `on_outcome` are the hooks for metrics."""

    def __init__(
        self,
        kv: KV,
        master: MasterKey,
        roles: StaticRoleStore,
        issuer: Issuer,
        *,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[RotationOutcome], None] | None = None,
    ) -> None:
        self.roles = roles
        self.counts: Counter[Outcome] = Counter()
        self._kv = kv
        self._master = master
        self._issuer = issuer
        self._clock = clock
        self._on_outcome = on_outcome

    async def state(self, name: str) -> StaticCreds:
        state, _ = await self._read(name)
        return state

    async def rotate(self, name: str, *, reason: str, now: float | None = None) -> RotationOutcome:
        """Replace the key now. A previous key still inside its overlap is deleted first, its
        overlap cut short, so a role never holds more than two keys."""
        role = (await self.roles.get(name)).role
        outcome = await self._rotate(role, reason=reason, now=self._now(now))
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
            return await self._rotate(role, reason="definition written", now=now)
        if replaced is not None and replaced.rotation_period != role.rotation_period:

            def reschedule(s: StaticCreds) -> StaticCreds | None:
                if s.failures or s.last_rotated_at is None:
                    return None
                return s.model_copy(
                    update={"next_rotation_at": s.last_rotated_at + role.rotation_period}
                )

            await self._update(role.name, reschedule)
        return None

    async def rotate_due(self, now: float | None = None) -> list[RotationOutcome]:
        """What the scheduler runs: end the overlaps that are over, then rotate every role whose
        `next_rotation_at` has come (a new role gets its first key). A role whose previous key
        is still held waits for it to go."""
        now = self._now(now)
        outcomes = await self.finish_overlaps(now)
        for name in await self.roles.names():
            try:
                role = (await self.roles.get(name)).role
            except NotFound:
                continue
            state, _ = await self._read(name)
            if state.previous is None and state.next_rotation_at <= now:
                outcomes.append(
                    await self._replace_current(role, state.generation, now, reason="scheduled")
                )
        return outcomes

    async def finish_overlaps(self, now: float | None = None) -> list[RotationOutcome]:
        """Delete the previous keys whose overlap has ended."""
        now = self._now(now)
        outcomes = []
        for name in await self._kv.list(static_creds_path("")):
            state, _ = await self._read(name)
            if state.previous is not None and state.previous.delete_after <= now:
                outcomes.append(
                    await self._delete_previous(
                        name, state.generation, state.previous, now, reason="overlap"
                    )
                )
        return outcomes

    async def delete(self, name: str) -> None:
        """Delete the role's keys at Bybit, then its records. While Bybit refuses, everything
        stays recorded, so no live key is ever forgotten."""
        self.roles.ensure_writable(name, "deleted")
        await self.roles.get(name)

        async def attempt() -> list[StaticKey]:
            state, version = await self._read(name)
            held = [k for k in (state.previous, state.current) if k is not None]
            for key in held:
                await self._delete_at_bybit(key, doing=f"deleting a key of static role {name!r}")
            if version:
                await self._kv.delete(static_creds_path(name), cas=version)
            return held

        deleted = await with_cas_retry(attempt, what=f"deleting static role {name!r}")
        for key in deleted:
            await release_slot(self._kv, key.subaccount_uid, key.key)
        await self.roles.remove(name)
        log.info("static_role_deleted", role=name, api_keys=[k.api_key for k in deleted])

    async def _rotate(self, role: StaticRole, *, reason: str, now: float) -> RotationOutcome:
        state, _ = await self._read(role.name)
        if state.previous is not None:
            deleted = await self._delete_previous(
                role.name, state.generation, state.previous, now, reason=reason
            )
            if deleted.error is not None:
                return deleted
        return await self._replace_current(role, state.generation, now, reason=reason)

    async def _replace_current(
        self, role: StaticRole, generation: int, now: float, *, reason: str
    ) -> RotationOutcome:
        try:
            fresh = await self._create(role, now)
        except KeymintError as exc:
            return await self._failed(role.name, generation, exc, now, reason=reason)

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
            await self._discard(fresh)
            raise
        if published is None:
            await self._discard(fresh)
            lost = Conflict(
                f"static role {role.name!r} was rotated by another request at the same time; "
                "its static-creds show the key that won"
            )
            outcome = RotationOutcome(role.name, Outcome.SUPERSEDED, generation, None, lost)
            return self._emit(outcome, reason)
        outcome = RotationOutcome(role.name, Outcome.ROTATED, published.generation, fresh.api_key)
        return self._emit(outcome, reason)

    async def _create(self, role: StaticRole, now: float) -> StaticKey:
        new = await self._issuer.create_key(role, kind=SlotKind.STATIC, pool=[role.subaccount_uid])
        return StaticKey(
            key=new.key,
            api_key=new.created.api_key,
            api_secret=new.created.secret.get_secret_value(),
            subaccount_uid=new.subaccount_uid,
            created_at=now,
            note=new.note,
        )

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
        self, name: str, generation: int, previous: PreviousKey, now: float, *, reason: str
    ) -> RotationOutcome:
        error: KeymintError | None = None
        try:
            await self._delete_at_bybit(
                previous, doing=f"deleting the previous key of static role {name!r}"
            )
        except KeymintError as exc:
            error = exc

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
        if error is None:
            await release_slot(self._kv, previous.subaccount_uid, previous.key)
        done = Outcome.PREVIOUS_DELETED if error is None else Outcome.DELETE_FAILED
        return self._emit(RotationOutcome(name, done, generation, previous.api_key, error), reason)

    async def _delete_at_bybit(self, key: StaticKey, *, doing: str) -> None:
        """Deleted and confirmed gone; a key another replica deleted first counts as deleted."""
        bybit = await self._master.client()
        try:
            await delete_and_confirm(bybit, key.api_key, key.subaccount_uid)
        except BybitError as exc:
            raise translate(exc, doing=doing) from None

    async def _discard(self, key: StaticKey) -> None:
        """Delete a key that was never published."""
        try:
            await self._delete_at_bybit(key, doing="deleting an unpublished static key")
            await release_slot(self._kv, key.subaccount_uid, key.key)
        except KeymintError as exc:
            # Its slot still names its note, and no record owns it: reconciliation deletes it.
            log.error("static_key_discard_failed", api_key=key.api_key, error=exc.message)

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
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    def now(self) -> float:
        return self._clock()

    def _now(self, now: float | None) -> float:
        return self.now() if now is None else now
