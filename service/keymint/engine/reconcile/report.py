"""What a reconciliation pass found and did, per sub-account: the answer of `POST /v1/reconcile`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field


class OrphanAction(StrEnum):
    DELETED = "deleted"
    WOULD_DELETE = "would_delete"
    # Younger than the grace period: possibly a mint in flight, left alone this time.
    IN_GRACE = "in_grace"
    DELETE_FAILED = "delete_failed"


class DriftAction(StrEnum):
    REPORTED = "reported"
    REPAIRED = "repaired"
    WOULD_REPAIR = "would_repair"
    REPAIR_FAILED = "repair_failed"
    REVOKED = "revoked"
    WOULD_REVOKE = "would_revoke"
    # Deletion at Bybit not confirmed: the lease stays revoking and deletion is retried.
    REVOKE_PENDING = "revoke_pending"


class Orphan(BaseModel):
    api_key: str = Field(description="The Bybit API key (public id)")
    note: str
    age_s: float = Field(
        description="Seconds since its slot was reserved (or, without one, since Bybit created it)"
    )
    action: OrphanAction
    error: str | None = None


class Drift(BaseModel):
    api_key: str
    lease_id: str
    fields: list[str] = Field(description="permissions, ips and/or read_only")
    action: DriftAction
    error: str | None = None


class SubaccountReport(BaseModel):
    subaccount: int
    keys_total: int = 0
    keymint_keys: int = 0
    foreign_keys: int = Field(default=0, description="Keys keymint did not create; never touched")
    orphans: list[Orphan] = Field(default_factory=list)
    drift: list[Drift] = Field(default_factory=list)
    lost_leases: list[str] = Field(
        default_factory=list, description="Leases whose key is gone at Bybit, now marked lost"
    )
    stale_slots_released: int = Field(
        default=0, description="Slots of mints that never completed (no key, no owner)"
    )
    room: int | None = Field(default=None, description="Keys keymint may still create here")
    error: str | None = Field(default=None, description="Why this sub-account was not finished")


class Totals(BaseModel):
    subaccounts: int
    failed_subaccounts: int
    keys_total: int
    keymint_keys: int
    foreign_keys: int
    orphans: int
    orphans_deleted: int
    drift: int
    lost_leases: int
    stale_slots_released: int


class ReconcileReport(BaseModel):
    dry_run: bool = Field(description="Nothing was changed at Bybit or in Vault")
    started_at: datetime
    finished_at: datetime
    subaccounts: list[SubaccountReport]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def totals(self) -> Totals:
        subs = self.subaccounts
        return Totals(
            subaccounts=len(subs),
            failed_subaccounts=sum(s.error is not None for s in subs),
            keys_total=sum(s.keys_total for s in subs),
            keymint_keys=sum(s.keymint_keys for s in subs),
            foreign_keys=sum(s.foreign_keys for s in subs),
            orphans=sum(len(s.orphans) for s in subs),
            orphans_deleted=sum(o.action is OrphanAction.DELETED for s in subs for o in s.orphans),
            drift=sum(len(s.drift) for s in subs),
            lost_leases=sum(len(s.lost_leases) for s in subs),
            stale_slots_released=sum(s.stale_slots_released for s in subs),
        )
