"""The engine's events as metrics, and the state-of-the-world gauges.

The state gauges come from the leader's sweep, which reads every sub-account record once per
pass anyway: they are computed once, not once per replica. The other replicas export none of
them (a replica that stops leading drops its series), so dashboards aggregate with max().
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from prometheus_client import Gauge

from keymint.engine.events import EngineEvents, StateSnapshot
from keymint.engine.reconcile.report import ReconcileReport
from keymint.observability import metrics

log = structlog.get_logger(__name__)

_STATE_GAUGES = (
    metrics.KEYS_ACTIVE,
    metrics.KEY_OLDEST_AGE,
    metrics.WARM_POOL_KEYS,
    metrics.SUBACCOUNT_KEYS,
    metrics.SUBACCOUNT_KEY_LIMIT,
    metrics.SUBACCOUNT_MANAGED_KEYS,
    metrics.ROTATION_LAST_SUCCESS,
)


class MetricsEvents(EngineEvents):
    def minted(self, role: str, outcome: str) -> None:
        metrics.MINTS.labels(role, outcome).inc()

    def key_deleted(self, role: str, reason: str, *, ok: bool, lifetime_s: float | None) -> None:
        metrics.REVOCATIONS.labels(role, reason, "ok" if ok else "failed").inc()
        if lifetime_s is not None:
            metrics.KEY_LIFETIME.labels(role).observe(max(0.0, lifetime_s))

    def rotated(self, role: str, outcome: str) -> None:
        # Deleting the previous key is counted as a deletion (key_deleted), not a rotation.
        if outcome not in ("previous_deleted", "delete_failed"):
            metrics.ROTATIONS.labels(role, outcome).inc()

    def reconciled(self, report: ReconcileReport) -> None:
        if report.dry_run:
            return
        totals = report.totals
        metrics.ORPHANS_FOUND.inc(totals.orphans)
        metrics.ORPHANS_DELETED.inc(totals.orphans_deleted)
        metrics.DRIFT_DETECTED.inc(totals.drift)
        metrics.RECONCILIATIONS.labels("partial" if totals.failed_subaccounts else "ok").inc()

    def master_key_checked(self, expiry: float | None) -> None:
        metrics.MASTER_KEY_EXPIRY.value = expiry

    def state(self, snapshot: StateSnapshot | None) -> None:
        if snapshot is None:
            for gauge in _STATE_GAUGES:
                gauge.clear()
            metrics.KEY_AGES.set({})
            metrics.REVOCATION_BACKLOG.set(0)
            metrics.IRREVOCABLE_LEASES.set(0)
            return
        ages = snapshot.key_ages
        metrics.KEY_AGES.set(ages)
        # A role with no key has no oldest age: 0 would read as "a brand-new key".
        replace(metrics.KEY_OLDEST_AGE, {role: max(a) for role, a in ages.items() if a})
        replace(metrics.KEYS_ACTIVE, snapshot.leases_active)
        replace(metrics.WARM_POOL_KEYS, snapshot.warm_pool)
        replace(metrics.ROTATION_LAST_SUCCESS, snapshot.rotated_at)
        subs = {str(u.uid): u for u in snapshot.subaccounts}
        replace(metrics.SUBACCOUNT_KEYS, {uid: u.used for uid, u in subs.items()})
        replace(metrics.SUBACCOUNT_KEY_LIMIT, {uid: u.limit for uid, u in subs.items()})
        replace(metrics.SUBACCOUNT_MANAGED_KEYS, {uid: u.keymint_keys for uid, u in subs.items()})
        metrics.REVOCATION_BACKLOG.set(snapshot.deletion_backlog)
        metrics.IRREVOCABLE_LEASES.set(snapshot.irrevocable)


class Leadership:
    """Every replica: whether it leads; one that stopped leading drops the state gauges, so
    only the leader's (current) values are exported."""

    def __init__(self, events: MetricsEvents) -> None:
        self._events = events
        self._was_leader = False

    async def show(self, is_leader: bool) -> None:
        metrics.SCHEDULER_LEADER.set(1 if is_leader else 0)
        if self._was_leader and not is_leader:
            self._events.state(None)
        self._was_leader = is_leader


def replace(gauge: Gauge, values: Mapping[str, float]) -> None:
    """Set a one-label gauge to exactly these series: a deleted role or sub-account must not
    keep reporting (and alerting on) its last value. No await in here, so no scrape sees a
    half-replaced gauge."""
    gauge.clear()
    for label, value in values.items():
        gauge.labels(label).set(value)
