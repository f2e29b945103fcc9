"""Lease lookup, listing, renewal and revocation, each on the one record holding the key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from keymint.engine.durations import format_duration
from keymint.engine.dynamic.lease import Lease, LeaseRef, LeaseState, parse_lease_id
from keymint.engine.keys.account import Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.deletion import KeyDeleter, Outcome, Retired
from keymint.errors import BadRequest, NotFound

log = structlog.get_logger(__name__)

# Revocations one revoke-prefix runs at once; Bybit's pacing bounds the deletes anyway.
REVOKE_CONCURRENCY = 8


@dataclass(frozen=True)
class Renewed:
    lease: Lease
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Revocation:
    lease_id: str
    revoked: bool
    lease: Lease | None = None
    error: str | None = None


@dataclass(frozen=True)
class LeasePage:
    leases: list[Lease]
    next_cursor: str | None


def ref_of(lid: str) -> LeaseRef:
    ref = parse_lease_id(lid)
    if ref is None:
        raise NotFound(f"lease {lid!r} not found")
    return ref


def leases_in(account: Account, role: str | None = None) -> list[Lease]:
    found = (Lease.of(account.uid, e) for e in account.owned_by(Owner.LEASE, role))
    return [lease for lease in found if lease is not None]


class LeaseService:
    def __init__(
        self,
        store: AccountStore,
        deleter: KeyDeleter,
        *,
        hash_accessor: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._deleter = deleter
        self._clock = clock
        # How a lease answer shows the minting token's accessor: never in the clear.
        self.hash_accessor = hash_accessor

    def now(self) -> float:
        return self._clock()

    async def lookup(self, lid: str) -> Lease:
        ref = ref_of(lid)
        entry = (await self._store.read(ref.uid)).keys.get(ref.key)
        lease = _lease_of(ref, entry)
        if lease is None:
            raise NotFound(f"lease {lid!r} not found")
        return lease

    async def all(self, role: str | None = None) -> list[Lease]:
        """Every lease (of one role), in lease-id order: one read per sub-account."""
        accounts = await self._store.read_many(await self._store.uids())
        return sorted(
            (lease for a in accounts for lease in leases_in(a, role)),
            key=lambda lease: lease.lease_id,
        )

    async def page(self, *, role: str | None, after: str | None, limit: int) -> LeasePage:
        """Leases in lease-id order; `after` is the last lease id of the previous page."""
        leases = [
            lease for lease in await self.all(role) if after is None or lease.lease_id > after
        ]
        chosen = leases[:limit]
        more = len(leases) > limit
        return LeasePage(chosen, chosen[-1].lease_id if more and chosen else None)

    async def renew(self, lid: str, *, increment: int | None) -> Renewed:
        ref = ref_of(lid)
        now = self._clock()

        def apply(account: Account) -> Renewed:
            entry = account.keys.get(ref.key)
            lease = _lease_of(ref, entry)
            if entry is None or lease is None:
                raise NotFound(f"lease {lid!r} not found")
            if lease.state is not LeaseState.ACTIVE:
                raise BadRequest(f"lease {lid!r} is {lease.state.value} and cannot be renewed")
            if lease.expires_at <= now:
                raise BadRequest(f"lease {lid!r} has expired and cannot be renewed")
            # As in Vault, no increment or an increment of 0 asks for the default.
            wanted = increment or lease.renew_ttl
            expires = now + wanted
            warnings = []
            if expires > lease.max_expires_at:
                expires = lease.max_expires_at
                warnings.append(
                    f"TTL of {format_duration(wanted)} exceeded the effective max_ttl of "
                    f"{format_duration(int(lease.max_expires_at - now))}; "
                    "TTL value is capped accordingly"
                )
            renewed = entry.model_copy(update={"expires_at": expires, "last_renewed_at": now})
            account.keys[ref.key] = renewed
            result = Lease.of(ref.uid, renewed)
            assert result is not None
            return Renewed(result, warnings)

        renewed = await self._store.change(ref.uid, apply)
        audit("lease_renewed", renewed.lease, ttl=renewed.lease.ttl(now), outcome="renewed")
        return renewed

    async def revoke(self, lid: str, *, reason: str) -> Revocation:
        """Delete the key at Bybit, confirm it is gone, then drop the lease.

        Until Bybit confirms, the lease stays, marked revoking, and the leader retries it: it
        is never dropped while its key may still work. A revocation already running elsewhere
        is waited for, never repeated; revoking a lease that is gone succeeds, as in Vault.
        """
        ref = ref_of(lid)
        retired = await self._deleter.retire(
            ref.uid, ref.key, reason=reason, expect=lambda e: _lease_of(ref, e) is not None
        )
        if retired.outcome is Outcome.BUSY:
            retired = await self._deleter.wait_settled(
                ref.uid, ref.key, deadline_s=self._deleter.retry.claim_s
            )
        return self._answer(ref, retired)

    def _answer(self, ref: LeaseRef, retired: Retired) -> Revocation:
        lease = _lease_of(ref, retired.entry)
        match retired.outcome:
            case Outcome.DECLINED:
                raise NotFound(f"lease {ref.lease_id!r} not found")
            case Outcome.DELETED | Outcome.GONE:
                # The deletion's audit line is the deleter's, whatever asked for it.
                return Revocation(ref.lease_id, revoked=True, lease=lease)
            case _:
                return Revocation(ref.lease_id, revoked=False, lease=lease, error=retired.error)

    async def revoke_prefix(self, role: str, *, reason: str) -> list[Revocation]:
        """Every lease of the role, and its mints in flight (whose keys are then deleted as they
        land). Leases being revoked elsewhere are waited for; ones already gone are skipped."""
        accounts = await self._store.read_many(await self._store.uids())
        targets = [(a.uid, e) for a in accounts for e in a.owned_by(Owner.LEASE, role)]
        running = asyncio.Semaphore(REVOKE_CONCURRENCY)

        async def one(uid: int, entry: KeyEntry) -> Revocation | None:
            async with running:
                if entry.state is KeyState.MINTING:
                    await self._deleter.retire(
                        uid, entry.key, reason=reason, expect=lambda e: e.owner is Owner.LEASE
                    )
                    return None
                return await self.revoke(LeaseRef(role, uid, entry.key).lease_id, reason=reason)

        done = await asyncio.gather(*(one(uid, e) for uid, e in targets))
        return [r for r in done if r is not None]

    async def count(self, role: str) -> int:
        return len(await self.all(role))


def _lease_of(ref: LeaseRef, entry: KeyEntry | None) -> Lease | None:
    if entry is None or entry.owner is not Owner.LEASE or entry.role != ref.role:
        return None
    return Lease.of(ref.uid, entry)


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
