"""The sub-account record: every key keymint has on one sub-account, whatever owns it.

Bybit caps a sub-account at 20 keys, so the record stays small, and because it holds every key
on the sub-account, each ownership change (the write-ahead reservation before Bybit's create,
activation, a warm-pool hand-out, renewal, a revocation claim, release, lost and drift marks) is
one check-and-set on one record: two records can never disagree about who owns a key.

The record is plain data; `AccountStore.change` applies a function to it with check-and-set.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from keymint.engine.caller import Caller
from keymint.engine.ports import KeySpec


class Owner(StrEnum):
    LEASE = "lease"
    POOL = "pool"
    STATIC = "static"


class KeyState(StrEnum):
    # Reserved before Bybit's create: the write-ahead intent. The key may or may not exist yet.
    MINTING = "minting"
    # Made ahead for a role's warm pool; its secret is in the record until it is handed out.
    POOLED = "pooled"
    # Owned by a live lease, or the static role's current (or overlapping previous) key.
    ACTIVE = "active"
    # Deletion at Bybit asked for and not yet confirmed: the key may still work.
    REVOKING = "revoking"
    # Deletion failed every retry: still retried, counted and alerted.
    IRREVOCABLE = "irrevocable"
    # The key is gone at Bybit (deleted outside keymint): nothing left to delete.
    LOST = "lost"


# States in which the key may still work at Bybit and keymint must delete it eventually.
DELETION_PENDING = frozenset({KeyState.REVOKING, KeyState.IRREVOCABLE})


class Claim(BaseModel):
    """Who is talking to Bybit about this key right now. A claim made by a leader job carries
    the leader's term and is void as soon as a newer term exists, so a dead leader's claim does
    not block its successor; a request's claim (term 0) lapses at `until`."""

    model_config = ConfigDict(frozen=True)

    holder: str
    term: int = 0
    until: float

    def live(self, now: float, *, term: int = 0) -> bool:
        return self.until > now and not (self.term and term > self.term)


class KeyEntry(BaseModel):
    """One key. Times are Unix seconds."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="keymint's id for the key: the suffix of its Bybit note")
    owner: Owner
    role: str
    note: str
    state: KeyState
    reserved_at: float
    api_key: str = Field(default="", description="Bybit's key id, once Bybit made the key")
    api_secret: str | None = Field(default=None, repr=False, description="Pooled keys only")
    created_at: float | None = Field(default=None, description="When Bybit made the key")
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    ips: list[str] = Field(default_factory=list)
    read_only: bool = False
    role_digest: str = Field(default="", description="What a pooled key was made for")
    # A lease's life.
    issued_at: float | None = None
    expires_at: float | None = None
    max_expires_at: float | None = None
    renew_ttl: int = 0
    last_renewed_at: float | None = None
    caller: Caller | None = None
    instance_id: str = ""
    # Deletion.
    reason: str | None = Field(default=None, description="Why the key is being deleted")
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    claim: Claim | None = None

    @property
    def spec(self) -> KeySpec:
        return KeySpec(permissions=self.permissions, read_only=self.read_only, ips=self.ips)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def claimed(self, now: float, *, term: int = 0) -> bool:
        return self.claim is not None and self.claim.live(now, term=term)


class Account(BaseModel):
    """`keys/<uid>`: the keys keymint holds on sub-account `uid`, and how many others hold."""

    uid: int
    keys: dict[str, KeyEntry] = Field(default_factory=dict)
    foreign_keys: int = Field(default=0, description="Keys keymint did not make, last counted")

    def room(self, limit: int) -> int:
        return limit - len(self.keys) - self.foreign_keys

    def owned_by(self, owner: Owner, role: str | None = None) -> list[KeyEntry]:
        return [
            e for e in self.keys.values() if e.owner is owner and (role is None or e.role == role)
        ]
