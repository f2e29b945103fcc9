"""Auto-provisioning: sub-accounts keymint created for a role whose pool was full.

They are recorded per role in Vault, so every replica sees the same, grown pool.
"""

from __future__ import annotations

import secrets

import structlog

from keymint.engine.dynamic.role import Role
from keymint.engine.ports import KV, Bybit, BybitFailure
from keymint.engine.records import data_of, with_cas_retry
from keymint.engine.upstream import translate

log = structlog.get_logger(__name__)


def provisioned_path(role: str) -> str:
    return f"provisioned/{role}"


class Provisioner:
    def __init__(self, kv: KV, bybit: Bybit) -> None:
        self._kv = kv
        self._bybit = bybit

    async def provisioned(self, role: str) -> list[int]:
        data, _ = data_of(await self._kv.read(provisioned_path(role)))
        return [int(uid) for uid in data.get("subaccounts", [])]

    async def pool_of(self, role: Role) -> list[int]:
        """The role's sub-accounts: those it names, then those keymint created for it."""
        if not role.auto_provision_max:
            # Most roles never provision: spare every mint the Vault read.
            return list(role.subaccounts)
        extra = [u for u in await self.provisioned(role.name) if u not in role.subaccounts]
        return [*role.subaccounts, *extra]

    async def provision(self, role: Role) -> int | None:
        """A new sub-account in the role's pool, or None when the pool is at its maximum."""
        if len(await self.pool_of(role)) >= role.auto_provision_max:
            return None
        # 6-16 letters and digits, unique forever at Bybit: a random tail, never reused.
        username = f"km{secrets.randbelow(90) + 10}{secrets.token_hex(4)}"
        try:
            uid = await self._bybit.create_subaccount(username, note=f"keymint pool {role.name}")
        except BybitFailure as exc:
            raise translate(exc, doing=f"adding a sub-account to role {role.name!r}") from None

        async def attempt() -> None:
            data, version = data_of(await self._kv.read(provisioned_path(role.name)))
            data["subaccounts"] = [*data.get("subaccounts", []), uid]
            await self._kv.write(provisioned_path(role.name), data, cas=version)

        await with_cas_retry(attempt, what=f"recording a new sub-account for role {role.name!r}")
        log.info("subaccount_provisioned", audit=True, role=role.name, subaccount=uid)
        return uid
