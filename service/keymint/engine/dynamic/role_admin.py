"""`/v1/roles`: dynamic role definitions, and the rule that no live key outlives its role."""

from __future__ import annotations

from typing import Any

from keymint.engine.definition_store import RoleSource, StoredRole
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.role import Role, RoleStore
from keymint.engine.keys.membership import MasterSubaccounts


class Roles:
    def __init__(
        self, store: RoleStore, leases: LeaseService, subaccounts: MasterSubaccounts
    ) -> None:
        self._store = store
        self._leases = leases
        self._subaccounts = subaccounts

    async def get(self, name: str) -> StoredRole[Role]:
        return await self._store.get(name)

    async def exists(self, name: str) -> bool:
        return await self._store.exists(name)

    async def names(self) -> dict[str, RoleSource]:
        return await self._store.names()

    async def put(self, name: str, body: dict[str, Any]) -> Role:
        role = self._store.parse(name, body)
        await self._subaccounts.require(role.subaccounts, field="subaccounts")
        await self._store.put(role)
        return role

    async def delete(self, name: str, *, revoke: bool) -> None:
        """Refused while the role has live leases, unless `revoke` revokes them first. Its
        warm pool is drained by the leader's next sweep (its keys no longer have a role)."""
        await self._store.get(name)
        self._store.ensure_writable(name, "deleted")
        if revoke:
            revocations = await self._leases.revoke_prefix(name, reason="revoked")
            live = sum(not r.revoked for r in revocations)
        else:
            live = await self._leases.count(name)
        await self._store.delete(name, live_leases=live)
