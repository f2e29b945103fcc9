"""A lease: a key on a sub-account, owned by one caller until it expires or is revoked.

The lease id names its sub-account, `keymint/creds/<role>/<uid>-<key id>`, so lookup, renewal
and revocation go straight to the one record that holds the key: no index to read or keep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from keymint.engine.caller import Caller
from keymint.engine.keys.account import KeyEntry, KeyState
from keymint.engine.templates import ROLE_NAME

_REF = re.compile(r"^(?P<uid>[1-9][0-9]{0,18})-(?P<key>[A-Za-z0-9]{24})$")


@dataclass(frozen=True)
class LeaseRef:
    role: str
    uid: int
    key: str

    @property
    def lease_id(self) -> str:
        return lease_id(self.role, self.uid, self.key)


def lease_id(role: str, uid: int, key: str) -> str:
    return f"keymint/creds/{role}/{uid}-{key}"


LEASE_ID_FORM = "keymint/creds/<role>/<sub-account uid>-<key id>"


def parse_lease_id(value: str) -> LeaseRef | None:
    """The parts of a lease id of keymint's, or None when it cannot be one."""
    parts = value.split("/")
    if len(parts) != 4 or parts[:2] != ["keymint", "creds"] or not ROLE_NAME.fullmatch(parts[2]):
        return None
    match = _REF.fullmatch(parts[3])
    if match is None:
        return None
    return LeaseRef(parts[2], int(match.group("uid")), match.group("key"))


LEASE_PREFIX_FORM = "keymint/creds/<role>, with or without a trailing slash"


def parse_lease_prefix(value: str) -> str | None:
    """The role whose leases a Vault lease prefix names (`keymint/creds/<role>[/]`), or None:
    keymint revokes by role, so no other prefix means anything to it."""
    parts = value.removesuffix("/").split("/")
    if len(parts) != 3 or parts[:2] != ["keymint", "creds"] or not ROLE_NAME.fullmatch(parts[2]):
        return None
    return parts[2]


class LeaseState(StrEnum):
    ACTIVE = "active"
    REVOKING = "revoking"
    IRREVOCABLE = "irrevocable"
    LOST = "lost"


_STATES = {
    KeyState.ACTIVE: LeaseState.ACTIVE,
    KeyState.REVOKING: LeaseState.REVOKING,
    KeyState.IRREVOCABLE: LeaseState.IRREVOCABLE,
    KeyState.LOST: LeaseState.LOST,
}


class Lease(BaseModel):
    """What a lease looks like to its holder and to operators: never the secret."""

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
    renew_ttl: int
    last_renewed_at: float | None = None
    caller: Caller = Caller()
    state: LeaseState = LeaseState.ACTIVE
    revoke_attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    instance_id: str = ""

    @property
    def lease_id(self) -> str:
        return lease_id(self.role, self.subaccount_uid, self.key)

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires_at - now))

    @classmethod
    def of(cls, uid: int, entry: KeyEntry) -> Lease | None:
        """The lease an entry stands for, if it is a lease's (and no longer minting)."""
        state = _STATES.get(entry.state)
        if state is None or entry.issued_at is None or entry.expires_at is None:
            return None
        return cls(
            key=entry.key,
            role=entry.role,
            subaccount_uid=uid,
            api_key=entry.api_key,
            note=entry.note,
            permissions=entry.permissions,
            ips=entry.ips,
            read_only=entry.read_only,
            issued_at=entry.issued_at,
            expires_at=entry.expires_at,
            max_expires_at=entry.max_expires_at or entry.expires_at,
            renew_ttl=entry.renew_ttl,
            last_renewed_at=entry.last_renewed_at,
            caller=entry.caller or Caller(),
            state=state,
            revoke_attempts=entry.attempts,
            next_attempt_at=entry.next_attempt_at,
            last_error=entry.last_error,
            instance_id=entry.instance_id,
        )
