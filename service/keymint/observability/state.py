"""The state-of-the-world gauges, recomputed from the lease store and the ledgers.

Every replica runs this (not only the leader), so any replica Prometheus scrapes reports the
same key counts, ages and backlogs, and the gauges stay right across a leader change.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Gauge

from keymint.bybit.errors import BybitError
from keymint.engine.leases import LeaseState
from keymint.engine.store import list_lease_keys, read_lease
from keymint.errors import KeymintError
from keymint.observability import metrics

if TYPE_CHECKING:
    from keymint.backend import Backend

log = structlog.get_logger(__name__)


class StateGauges:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        # query-api counts against Bybit's limit, and the master key's expiry changes rarely.
        self._master_check_s = backend.settings.master_key_check_s
        self._master_checked_at = -self._master_check_s

    async def refresh(self) -> None:
        metrics.SCHEDULER_LEADER.set(1 if self._backend.leader.is_leader else 0)
        await self._leases()
        await self._subaccounts()
        await self._pools_and_rotations()
        if time.monotonic() - self._master_checked_at >= self._master_check_s:
            await self._master_key()

    async def _leases(self) -> None:
        now = time.time()
        ages: dict[str, list[float]] = defaultdict(list)
        backlog = irrevocable = 0
        for role, key in await list_lease_keys(self._backend.kv):
            found = await read_lease(self._backend.kv, role, key)
            if found is None:
                continue
            lease = found[0]
            if lease.state is LeaseState.IRREVOCABLE:
                irrevocable += 1
            if lease.state in (LeaseState.REVOKING, LeaseState.IRREVOCABLE) or (
                lease.state is LeaseState.ACTIVE and lease.expires_at <= now
            ):
                backlog += 1
            if lease.state is not LeaseState.LOST:
                ages[role].append(max(0.0, now - lease.issued_at))
        roles = set(ages) | set(await self._backend.roles.names())
        metrics.REVOCATION_BACKLOG.set(backlog)
        metrics.IRREVOCABLE_LEASES.set(irrevocable)
        metrics.KEY_AGES.set(dict(ages))
        replace(metrics.KEYS_ACTIVE, {role: len(ages.get(role, [])) for role in roles})
        replace(metrics.KEY_OLDEST_AGE, {role: max(ages.get(role, [0.0])) for role in roles})

    async def _subaccounts(self) -> None:
        usage = {str(u["subaccount_uid"]): u for u in await self._backend.subaccount_usage()}
        replace(metrics.SUBACCOUNT_KEYS, {uid: u["used"] for uid, u in usage.items()})
        replace(metrics.SUBACCOUNT_KEY_LIMIT, {uid: u["limit"] for uid, u in usage.items()})
        replace(
            metrics.SUBACCOUNT_MANAGED_KEYS, {uid: u["keymint_keys"] for uid, u in usage.items()}
        )

    async def _pools_and_rotations(self) -> None:
        backend = self._backend
        pools, rotated = {}, {}
        for name in await backend.roles.names():
            if (await backend.roles.get(name)).role.warm_pool:
                pools[name] = await backend.warm_pool.size(name)
        for name in await backend.static_roles.names():
            state = await backend.static.state(name)
            if state.last_rotated_at:
                rotated[name] = state.last_rotated_at
        replace(metrics.WARM_POOL_KEYS, pools)
        replace(metrics.ROTATION_LAST_SUCCESS, rotated)

    async def _master_key(self) -> None:
        try:
            info = await (await self._backend.master.client()).query_api()
        except (BybitError, KeymintError) as exc:
            log.info("master_key_check_failed", error_class=type(exc).__name__)
            return
        self._master_checked_at = time.monotonic()
        expiry = info.expired_at
        metrics.MASTER_KEY_EXPIRY.value = expiry.timestamp() if expiry else None


def replace(gauge: Gauge, values: Mapping[str, float]) -> None:
    """Set a one-label gauge to exactly these series: a deleted role or sub-account must not
    keep reporting (and alerting on) its last value. No await in here, so no scrape sees a
    half-replaced gauge."""
    gauge.clear()
    for label, value in values.items():
        gauge.labels(label).set(value)
