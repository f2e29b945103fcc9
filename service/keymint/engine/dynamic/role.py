"""A dynamic role: the template of a key per lease, minted on a pool of sub-accounts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from keymint.engine.definition_store import DefinitionStore
from keymint.engine.durations import format_duration
from keymint.engine.ports import KV
from keymint.engine.templates import KeyTemplate, Seconds
from keymint.errors import Conflict


class Role(KeyTemplate):
    """A dynamic role: a key per lease, from a pool of sub-accounts."""

    subaccounts: list[int] = Field(
        min_length=1, description="Pool of Bybit sub-account UIDs keys are minted on"
    )
    ttl: Seconds = Field(default=3600, description="Default lease TTL in seconds")
    max_ttl: Seconds = Field(default=86400, description="Maximum lease lifetime in seconds")
    max_leases_per_caller: int | None = Field(
        default=None,
        ge=1,
        description="Live leases one caller (and instance id) may hold; a mint over the cap "
        "revokes that caller's oldest lease, so restarting bots do not eat the key limit",
    )
    warm_pool: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Keys created ahead and handed out at once, refilled within Bybit's "
        "create rate; they count against capacity",
    )
    revoke_with_token: bool = Field(
        default=True,
        description="Revoke a lease when the Vault token that minted it is revoked or expires, "
        "as Vault does; false for bots that re-login often and keep their key across logins",
    )
    auto_provision_max: int = Field(
        default=0,
        ge=0,
        description="When every sub-account is full, create sub-accounts until the pool has "
        "this many (0: never)",
    )

    @field_validator("subaccounts")
    @classmethod
    def _subaccounts(cls, value: list[int]) -> list[int]:
        if any(uid <= 0 for uid in value):
            raise ValueError("sub-account UIDs are positive integers")
        if len(set(value)) != len(value):
            raise ValueError("a sub-account UID is listed twice")
        return value

    @field_validator("max_ttl")
    @classmethod
    def _max_ttl(cls, value: int, info: ValidationInfo) -> int:
        limit = system_max_ttl(info.context)
        if limit is not None and value > limit:
            raise ValueError(
                f"{format_duration(value)} is over the system maximum of "
                f"{format_duration(limit)} (KEYMINT_MAX_LEASE_TTL_S)"
            )
        return value

    @model_validator(mode="after")
    def _ttl_within_max(self) -> Role:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl}s) exceeds max_ttl ({self.max_ttl}s)")
        return self


SYSTEM_MAX_TTL = "max_lease_ttl_s"
# Vault's default max_lease_ttl.
DEFAULT_MAX_LEASE_TTL_S = 32 * 86400


def limits(max_lease_ttl_s: int) -> dict[str, Any]:
    """The validation context a role is written with."""
    return {SYSTEM_MAX_TTL: max_lease_ttl_s}


def system_max_ttl(context: Mapping[str, Any] | None) -> int | None:
    # A definition read back from Vault is validated without it: it passed when written, and a
    # lowered maximum caps its leases at mint instead of hiding the role.
    return None if context is None else context.get(SYSTEM_MAX_TTL)


def role_path(name: str) -> str:
    return f"roles/{name}"


def role_digest(role: KeyTemplate) -> str:
    """What a pooled key was made for: a changed role must not hand out an old key."""
    shape = {k: getattr(role, k) for k in ("permissions", "ips", "read_only", "note_prefix")}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


class RoleStore(DefinitionStore[Role]):
    def __init__(self, kv: KV, file_roles: dict[str, Role], *, max_lease_ttl_s: int) -> None:
        super().__init__(
            kv, file_roles, model=Role, path=role_path, context=limits(max_lease_ttl_s)
        )

    async def delete(self, name: str, *, live_leases: int) -> None:
        """Refused while the role has leases, so no live key outlives the role that explains it."""
        self.ensure_writable(name, "deleted")
        if live_leases:
            raise Conflict(
                f"role {name!r} has {live_leases} live lease(s): revoke them first or delete "
                "with ?revoke=true"
            )
        await self.remove(name)
