"""What the engine reports as it works. The engine calls these hooks and knows nothing of
Prometheus; `keymint.observability` overrides them to keep the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keymint.engine.reconcile.report import ReconcileReport


@dataclass(frozen=True)
class SubaccountUsage:
    uid: int
    limit: int
    keymint_keys: int
    foreign_keys: int
    by_owner: dict[str, int]
    roles: list[str]

    @property
    def used(self) -> int:
        return self.keymint_keys + self.foreign_keys


@dataclass(frozen=True)
class StateSnapshot:
    """The state of the world as the leader's sweep last read it from the sub-account records."""

    # Ages at Bybit (now - created) of every live key, pooled and static included, by role.
    key_ages: dict[str, list[float]] = field(default_factory=dict)
    leases_active: dict[str, int] = field(default_factory=dict)
    warm_pool: dict[str, int] = field(default_factory=dict)
    subaccounts: list[SubaccountUsage] = field(default_factory=list)
    # Keys whose deletion Bybit has not confirmed (expired, revoking or irrevocable).
    deletion_backlog: int = 0
    irrevocable: int = 0
    rotated_at: dict[str, float] = field(default_factory=dict)


class EngineEvents:
    """The defaults do nothing, so the engine runs (and is tested) without observability."""

    def minted(self, role: str, outcome: str) -> None:
        """outcome: issued, warm, refused or failed."""

    def key_deleted(self, role: str, reason: str, *, ok: bool, lifetime_s: float | None) -> None:
        """A deletion at Bybit was tried for `reason` (expired, revoked, rotated, orphan, ...)."""

    def rotated(self, role: str, outcome: str) -> None:
        """A static role's rotation ended with `outcome`."""

    def reconciled(self, report: ReconcileReport) -> None:
        pass

    def state(self, snapshot: StateSnapshot | None) -> None:
        """The leader's view after a sweep; None when this replica stops leading."""

    def master_key_checked(self, expiry: float | None) -> None:
        """Bybit accepted the master key; it expires at `expiry` (None: never)."""
