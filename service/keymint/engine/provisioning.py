"""Auto-provisioning: sub-accounts keymint created for a role whose pool was full.

They are recorded per role in Vault, so every replica sees the same, grown pool.
"""

from __future__ import annotations

import secrets

import structlog

from keymint.bybit.errors import BybitError
from keymint.engine.ports import KV, BybitKeys
from keymint.engine.roles import Role
from keymint.engine.store import data_of, with_cas_retry
from keymint.engine.upstream import translate

log = structlog.get_logger(__name__)


def provisioned_path(role: str) -> str:
    return f"provisioned/{role}"


async def provisioned(kv: KV, role: str) -> list[int]:
    data, _ = data_of(await kv.read(provisioned_path(role)))
    return [int(uid) for uid in data.get("subaccounts", [])]


async def pool_of(kv: KV, role: Role) -> list[int]:
    """The role's sub-accounts: those it names, then those keymint created for it."""
    if not role.auto_provision_max:
        # Most roles never provision: spare every mint the Vault read (bench: mint overhead).
        return list(role.subaccounts)
    extra = [uid for uid in await provisioned(kv, role.name) if uid not in role.subaccounts]
    return [*role.subaccounts, *extra]


async def provision(kv: KV, bybit: BybitKeys, role: Role) -> int | None:
    """A new sub-account in the role's pool, or None when the pool is at its maximum."""
    if len(await pool_of(kv, role)) >= role.auto_provision_max:
        return None
    # 6-16 letters and digits, unique forever at Bybit: a random tail, never reused.
    username = f"km{secrets.randbelow(90) + 10}{secrets.token_hex(4)}"
    try:
        member = await bybit.create_sub_member(username, 1, note=f"keymint pool {role.name}")
    except BybitError as exc:
        raise translate(exc, doing=f"adding a sub-account to role {role.name!r}") from None
    uid = int(member.uid)

    async def attempt() -> None:
        data, version = data_of(await kv.read(provisioned_path(role.name)))
        data["subaccounts"] = [*data.get("subaccounts", []), uid]
        await kv.write(provisioned_path(role.name), data, cas=version)

    await with_cas_retry(attempt, what=f"recording a new sub-account for role {role.name!r}")
    log.info("subaccount_provisioned", audit=True, role=role.name, subaccount=uid)
    return uid
