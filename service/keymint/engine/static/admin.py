"""`/v1/static-roles`, `/v1/static-creds` and `/v1/rotate-role`: the orchestration of writing a
static role (save, then make or replace its key) and of reading its current key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keymint.engine.definition_store import RoleSource, StoredRole
from keymint.engine.durations import iso
from keymint.engine.keys.membership import MasterSubaccounts
from keymint.engine.static.role import StaticRole, StaticRoleStore
from keymint.engine.static.rotation import RotationOutcome, StaticCreds, StaticKey, StaticRotator
from keymint.errors import Unavailable


@dataclass(frozen=True)
class StaticView:
    role: StaticRole
    source: RoleSource
    state: StaticCreds
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CurrentKey:
    role: StaticRole
    state: StaticCreds
    current: StaticKey


@dataclass(frozen=True)
class Rotated:
    outcome: RotationOutcome
    state: StaticCreds
    warnings: list[str]


class StaticRoles:
    def __init__(
        self, store: StaticRoleStore, rotator: StaticRotator, subaccounts: MasterSubaccounts
    ) -> None:
        self._store = store
        self._rotator = rotator
        self._subaccounts = subaccounts

    def now(self) -> float:
        return self._rotator.now()

    async def exists(self, name: str) -> bool:
        return await self._store.exists(name)

    async def names(self) -> dict[str, RoleSource]:
        return await self._store.names()

    async def read(self, name: str) -> StaticView:
        stored: StoredRole[StaticRole] = await self._store.get(name)
        return StaticView(stored.role, stored.source, await self._rotator.state(name))

    async def write(self, name: str, body: dict[str, Any]) -> StaticView:
        """Saved first; then the first key is made (or replaced, when what the key is made of
        changed). If Bybit refuses, the role stays saved, the answer warns that its key is
        pending, and the leader retries with backoff."""
        role = self._store.parse(name, body)
        await self._subaccounts.require([role.subaccount_uid], field="subaccount_uid")
        replaced = await self._store.put(role)
        outcome = await self._rotator.applied(role, replaced)
        state = await self._rotator.state(name)
        warnings = []
        if outcome is not None and outcome.error is not None:
            pending = (
                "its first key is pending" if state.current is None else "its key is unchanged"
            )
            warnings.append(
                f"static role {name!r} is saved but {pending}: {outcome.error.message}; keymint "
                f"retries at {iso(state.next_rotation_at)}"
            )
        return StaticView(role, RoleSource.API, state, warnings)

    async def delete(self, name: str) -> None:
        await self._rotator.delete(name)

    async def current(self, name: str) -> CurrentKey:
        """The key bots should use now; 503 with Retry-After while the first one is pending."""
        role = (await self._store.get(name)).role
        state = await self._rotator.state(name)
        if state.current is None:
            raise Unavailable(
                f"static role {name!r} has no key yet ({state.last_error or 'being created'}); "
                f"keymint retries at {iso(state.next_rotation_at)}",
                headers={"Retry-After": str(max(1, int(state.next_rotation_at - self.now())))},
            )
        return CurrentKey(role, state, state.current)

    async def rotate(self, name: str) -> Rotated:
        """A new key becomes current now; a key still inside an earlier overlap is deleted
        first (and the answer warns so)."""
        before = await self._rotator.state(name)
        outcome = await self._rotator.rotate(name, reason="rotate-role")
        warnings = []
        if before.previous is not None:
            warnings.append(
                f"the key {before.previous.api_key} was deleted before its overlap ended "
                f"({iso(before.previous.delete_after)})"
            )
        return Rotated(outcome, await self._rotator.state(name), warnings)
