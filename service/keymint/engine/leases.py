"""Leases: one per minted key, the record that ties a Bybit key to its expiry and its caller."""

from __future__ import annotations

import secrets
import string
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

_ALPHABET = string.ascii_letters + string.digits


def new_lease_key() -> str:
    """The random part of a lease id: 24 alphanumerics, like Vault's; short enough for a note."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


def lease_id(role: str, key: str) -> str:
    return f"keymint/creds/{role}/{key}"


def split_lease_id(value: str) -> tuple[str, str] | None:
    """(role, key) of a full lease id, or None when it is not one of ours."""
    parts = value.split("/")
    if len(parts) != 4 or parts[:2] != ["keymint", "creds"] or not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3]


class LeaseState(StrEnum):
    ACTIVE = "active"
    # Deletion at Bybit was asked for and not yet confirmed: the key may still work.
    REVOKING = "revoking"
    # Revocation failed `irrevocable_after` times: still retried daily, counted and alerted.
    IRREVOCABLE = "irrevocable"
    # Reconciliation found the key gone at Bybit (deleted by hand): nothing left to revoke.
    LOST = "lost"


class Caller(BaseModel):
    """Who asked for a key, as Vault told us: never the token itself."""

    model_config = ConfigDict(frozen=True)

    entity_id: str = ""
    display_name: str = ""
    policies: list[str] = Field(default_factory=list)
    accessor: str = ""


class Lease(BaseModel):
    """Times are Unix seconds, so renewals and expiry compare without time zones."""

    model_config = ConfigDict(frozen=True)

    key: str
    role: str
    subaccount_uid: int
    api_key: str
    note: str
    permissions: dict[str, list[str]]
    ips: list[str]
    read_only: bool
    issued_at: float
    expires_at: float
    max_expires_at: float
    renew_ttl: int = Field(description="TTL a renewal without an increment grants (the role's)")
    last_renewed_at: float | None = None
    caller: Caller = Field(default_factory=Caller)
    state: LeaseState = LeaseState.ACTIVE
    revoke_attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    instance_id: str = ""

    @property
    def lease_id(self) -> str:
        return lease_id(self.role, self.key)

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires_at - now))
