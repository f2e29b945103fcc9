"""Lease lookup, listing, renewal and revocation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from keymint.bybit.errors import BybitError
from keymint.engine.capacity import release_slot
from keymint.engine.deletion import delete_and_confirm
from keymint.engine.durations import format_duration
from keymint.engine.leases import Lease, LeaseState, lease_id, split_lease_id
from keymint.engine.master import MasterKey
from keymint.engine.ports import KV
from keymint.engine.store import (
    lease_path,
    list_lease_keys,
    read_lease,
    with_cas_retry,
    write_lease,
)
from keymint.errors import BadRequest, NotFound
from keymint.observability import metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Renewed:
    lease: Lease
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Revocation:
    lease: Lease
    revoked: bool
    error: str | None = None


@dataclass(frozen=True)
class LeasePage:
    leases: list[Lease]
    next_cursor: str | None


@dataclass(frozen=True)
class RevokeRetry:
    """Backoff for revocations Bybit did not confirm: exponential up to `cap_s`, then, after
    `max_attempts`, the lease is irrevocable and retried every `irrevocable_every_s`."""

    max_attempts: int = 8
    base_s: float = 5.0
    cap_s: float = 3600.0
    irrevocable_every_s: float = 86400.0
    # How long a claimed revocation keeps other replicas away while it talks to Bybit.
    claim_s: float = 120.0

    def delay(self, attempts: int) -> float:
        if attempts >= self.max_attempts:
            return self.irrevocable_every_s
        return float(min(self.cap_s, self.base_s * 2 ** (attempts - 1)))


class Leases:
    def __init__(
        self,
        kv: KV,
        master: MasterKey,
        *,
        retry: RevokeRetry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._master = master
        self._retry = retry or RevokeRetry()
        self._clock = clock

    async def lookup(self, lid: str) -> tuple[Lease, int]:
        parts = split_lease_id(lid)
        found = None if parts is None else await read_lease(self._kv, *parts)
        if found is None:
            raise NotFound(f"lease {lid!r} not found")
        return found

    async def page(self, *, role: str | None, after: str | None, limit: int) -> LeasePage:
        """Leases in lease-id order; `after` is the last lease id of the previous page."""
        keys = [k for k in await list_lease_keys(self._kv, role) if after is None or _id(k) > after]
        chosen = keys[:limit]
        leases = [found[0] for k in chosen if (found := await read_lease(self._kv, *k))]
        more = len(keys) > limit
        return LeasePage(leases=leases, next_cursor=_id(chosen[-1]) if more and chosen else None)

    def now(self) -> float:
        return self._clock()

    async def renew(self, lid: str, *, increment: int | None) -> Renewed:
        async def attempt() -> Renewed:
            lease, version = await self.lookup(lid)
            now = self._clock()
            if lease.state is not LeaseState.ACTIVE:
                raise BadRequest(f"lease {lid!r} is {lease.state.value} and cannot be renewed")
            if lease.expires_at <= now:
                raise BadRequest(f"lease {lid!r} has expired and cannot be renewed")
            wanted = lease.renew_ttl if increment is None else increment
            expires = now + wanted
            warnings = []
            if expires > lease.max_expires_at:
                expires = lease.max_expires_at
                warnings.append(
                    f"TTL of {format_duration(wanted)} exceeded the effective max_ttl of "
                    f"{format_duration(int(lease.max_expires_at - now))}; "
                    "TTL value is capped accordingly"
                )
            renewed = lease.model_copy(update={"expires_at": expires, "last_renewed_at": now})
            await write_lease(self._kv, renewed, cas=version)
            audit("lease_renewed", lease, ttl=int(expires - now), outcome="renewed")
            return Renewed(lease=renewed, warnings=warnings)

        return await with_cas_retry(attempt, what=f"renewing lease {lid!r}")

    async def revoke(self, lid: str, *, reason: str) -> Revocation:
        """Delete the key at Bybit, confirm it is gone, then drop the lease and free its slot.

        Until Bybit confirms, the lease stays, marked revoking: it is never dropped while its
        key may still work. The check-and-set claim written first means only one replica (and
        one request) talks to Bybit per attempt; a loser gets Conflict.
        """
        lease, version = await self.lookup(lid)
        now = self._clock()
        if lease.state is not LeaseState.LOST:
            state = (
                LeaseState.IRREVOCABLE
                if lease.state is LeaseState.IRREVOCABLE
                else LeaseState.REVOKING
            )
            lease = lease.model_copy(
                update={"state": state, "next_attempt_at": now + self._retry.claim_s}
            )
            version = await write_lease(self._kv, lease, cas=version)
            try:
                await self._delete_at_bybit(lease)
            except BybitError as exc:
                metrics.REVOCATIONS.labels(lease.role, reason, "failed").inc()
                return await self._failed(lease, version, exc, now)
        await self._kv.delete(lease_path(lease.role, lease.key), cas=version)
        await release_slot(self._kv, lease.subaccount_uid, lease.key)
        metrics.REVOCATIONS.labels(lease.role, reason, "ok").inc()
        metrics.KEY_LIFETIME.labels(lease.role).observe(max(0.0, now - lease.issued_at))
        audit("lease_revoked", lease, reason=reason, outcome="revoked")
        return Revocation(lease=lease, revoked=True)

    async def _delete_at_bybit(self, lease: Lease) -> None:
        await delete_and_confirm(await self._master.client(), lease.api_key, lease.subaccount_uid)

    async def _failed(self, lease: Lease, version: int, exc: Exception, now: float) -> Revocation:
        attempts = lease.revoke_attempts + 1
        irrevocable = attempts >= self._retry.max_attempts
        error = f"{type(exc).__name__}: key deletion at Bybit not confirmed"
        failed = lease.model_copy(
            update={
                "revoke_attempts": attempts,
                "last_error": error,
                "state": LeaseState.IRREVOCABLE if irrevocable else LeaseState.REVOKING,
                "next_attempt_at": now + self._retry.delay(attempts),
            }
        )
        await write_lease(self._kv, failed, cas=version)
        audit(
            "revocation_failed",
            lease,
            warn=True,
            attempts=attempts,
            irrevocable=irrevocable,
            error=error,
            outcome="failed",
        )
        return Revocation(lease=failed, revoked=False, error=error)

    async def revoke_role(self, role: str, *, reason: str) -> list[Revocation]:
        return [
            await self.revoke(_id(k), reason=reason) for k in await list_lease_keys(self._kv, role)
        ]

    async def count(self, role: str) -> int:
        return len(await list_lease_keys(self._kv, role))


def _id(role_key: tuple[str, str]) -> str:
    return lease_id(*role_key)


def audit(event: str, lease: Lease, *, warn: bool = False, **fields: object) -> None:
    """One audit line about a lease: who holds it, which key, where; never the secret."""
    (log.warning if warn else log.info)(
        event,
        audit=True,
        lease_id=lease.lease_id,
        role=lease.role,
        api_key=lease.api_key,
        subaccount=lease.subaccount_uid,
        caller=lease.caller.display_name,
        entity_id=lease.caller.entity_id,
        **fields,
    )
