"""Minting a dynamic credential: the path from a role to a live, IP-pinned Bybit key."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from pydantic import SecretStr

from keymint.bybit.errors import BybitError, CreateOutcome, CreateOutcomeLost, KeyCapError
from keymint.bybit.models import CreatedApiKey
from keymint.engine.capacity import (
    Slot,
    SlotKind,
    mark_full,
    pool_exhausted,
    release_slot,
    reserve_slot,
)
from keymint.engine.durations import format_duration
from keymint.engine.lease_ops import Leases
from keymint.engine.leases import Caller, Lease, LeaseState, new_lease_key
from keymint.engine.master import MasterKey
from keymint.engine.ports import KV, BybitKeys
from keymint.engine.provisioning import pool_of, provision
from keymint.engine.roles import KeyTemplate, Role
from keymint.engine.store import list_lease_keys, read_lease, write_lease
from keymint.engine.upstream import translate
from keymint.errors import (
    BadRequest,
    CapacityExhausted,
    KeymintError,
    TooManyRequests,
    Unavailable,
)
from keymint.observability import metrics

log = structlog.get_logger(__name__)


class WarmKeys(Protocol):
    async def take(self, role: Role) -> NewKey | None: ...


@dataclass(frozen=True)
class Minted:
    lease: Lease
    secret: SecretStr


@dataclass(frozen=True)
class NewKey:
    """A key just created at Bybit, holding a slot of `kind` on `subaccount_uid`."""

    key: str
    note: str
    subaccount_uid: int
    created: CreatedApiKey


class Issuer:
    def __init__(
        self,
        kv: KV,
        master: MasterKey,
        leases: Leases,
        *,
        key_limit: int,
        create_rate_per_s: float,
        max_queue_wait_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._master = master
        self._leases = leases
        self._key_limit = key_limit
        self._create_rate_per_s = create_rate_per_s
        self._max_queue_wait_s = max_queue_wait_s
        self._clock = clock
        self._queued = 0
        # One reservation at a time per replica: concurrent ones would only lose check-and-set
        # races on the same ledgers (bench: 200 bots at once got 409s after eight retries).
        # Replicas still race each other, and retry.
        self._reserving = asyncio.Lock()
        # Wired by the backend: hands out a key created ahead for roles with a warm pool.
        self.warm_pool: WarmKeys | None = None

    def lease_ttl(self, role: Role, requested: int | None) -> int:
        if requested is None:
            return role.ttl
        if requested <= 0:
            raise BadRequest("ttl: must be at least one second")
        if requested > role.max_ttl:
            raise BadRequest(
                f"ttl: {format_duration(requested)} exceeds the max_ttl of role {role.name!r} "
                f"({format_duration(role.max_ttl)})"
            )
        return requested

    async def mint(
        self, role: Role, *, caller: Caller, ttl: int | None = None, instance_id: str = ""
    ) -> Minted:
        """A leased key: from the role's warm pool when it has one ready, else created now."""
        try:
            minted, warm = await self._mint(role, caller, ttl, instance_id)
        except KeymintError as exc:
            outcome = "refused" if exc.status_code < 500 else "failed"
            metrics.MINTS.labels(role.name, outcome).inc()
            raise
        metrics.MINTS.labels(role.name, "warm" if warm else "issued").inc()
        return minted

    async def _mint(
        self, role: Role, caller: Caller, ttl: int | None, instance_id: str
    ) -> tuple[Minted, bool]:
        lease_ttl = self.lease_ttl(role, ttl)
        await self._enforce_caller_cap(role, caller, instance_id)
        pooled = None
        if role.warm_pool and self.warm_pool is not None:
            pooled = await self.warm_pool.take(role)
        new = pooled or await self.create_key(role, kind=SlotKind.LEASE, grow=role)
        issued = self._clock()
        lease = Lease(
            key=new.key,
            role=role.name,
            subaccount_uid=new.subaccount_uid,
            api_key=new.created.api_key,
            note=new.note,
            permissions=role.permissions,
            ips=role.ips,
            read_only=role.read_only,
            issued_at=issued,
            expires_at=issued + lease_ttl,
            max_expires_at=issued + role.max_ttl,
            renew_ttl=role.ttl,
            caller=caller,
            instance_id=instance_id,
        )
        try:
            await write_lease(self._kv, lease, cas=0)
        except KeymintError:
            await self.roll_back(new)
            raise
        log.info(
            "lease_issued",
            audit=True,
            role=role.name,
            lease_id=lease.lease_id,
            api_key=lease.api_key,
            subaccount=lease.subaccount_uid,
            caller=caller.display_name,
            entity_id=caller.entity_id,
            warm=pooled is not None,
            outcome="issued",
        )
        return Minted(lease=lease, secret=new.created.secret), pooled is not None

    async def create_key(
        self,
        role: KeyTemplate,
        *,
        kind: SlotKind,
        pool: list[int] | None = None,
        grow: Role | None = None,
    ) -> NewKey:
        """Reserve a slot (the write-ahead intent), then create the key at Bybit.

        A key exists at Bybit only while a slot naming its note exists in Vault, so a crash at
        any point leaves something the start-up replay or reconciliation can find and delete.
        The key goes to the sub-account of `pool` (or of the dynamic role `grow`'s pool, which
        auto-provisioning may extend) with the most room.
        """
        bybit = await self._master.client()
        key = new_lease_key()
        note = f"{role.note_prefix}:{key}"
        slot = Slot(role=role.name, note=note, reserved_at=self._clock(), kind=kind)
        full: list[int] = []

        async def candidates() -> list[int]:
            members = pool if grow is None else await pool_of(self._kv, grow)
            return [uid for uid in members or [] if uid not in full]

        while True:
            try:
                async with self._reserving:
                    sub_uid = await reserve_slot(
                        self._kv,
                        await candidates(),
                        key=key,
                        slot=slot,
                        limit=self._key_limit,
                        role=role.name,
                    )
            except CapacityExhausted:
                if grow is None or await provision(self._kv, bybit, grow) is None:
                    raise
                continue
            try:
                created = await self._paced_create(bybit, role, sub_uid, note)
            except KeyCapError:
                # Someone else's keys filled this sub-account: remember that, try the next.
                await mark_full(self._kv, sub_uid, limit=self._key_limit)
                await release_slot(self._kv, sub_uid, key)
                full.append(sub_uid)
                if not await candidates():
                    raise await pool_exhausted(
                        self._kv, full, limit=self._key_limit, role=role.name
                    ) from None
                continue
            except BybitError as exc:
                await self._abandon(sub_uid, key, exc)
                raise translate(exc, doing=f"minting a key for role {role.name!r}") from None
            except BaseException:
                await release_slot(self._kv, sub_uid, key)
                raise
            return NewKey(key=key, note=note, subaccount_uid=sub_uid, created=created)

    async def _paced_create(
        self, bybit: BybitKeys, role: KeyTemplate, sub_uid: int, note: str
    ) -> CreatedApiKey:
        """Bybit creates one key per second per master: queue fairly behind that, but refuse
        with a Retry-After rather than make a caller wait longer than configured."""
        wait_s = self._queued / self._create_rate_per_s
        if wait_s > self._max_queue_wait_s:
            raise TooManyRequests(
                f"role {role.name!r}: {self._queued} keys are queued behind Bybit's limit of "
                f"{self._create_rate_per_s:g} new key(s) per second; retry later",
                retry_after_s=math.ceil(wait_s),
            )
        self._queued += 1
        try:
            return await bybit.create_sub_api_key(
                sub_uid,
                note=note,
                permissions=role.permissions,
                read_only=role.read_only,
                ips=role.ips,
            )
        finally:
            self._queued -= 1

    async def _enforce_caller_cap(self, role: Role, caller: Caller, instance_id: str) -> None:
        """Revoke the caller's oldest leases beyond the role's cap, before minting anew."""
        cap = role.max_leases_per_caller
        if cap is None:
            return
        who = caller.entity_id or caller.accessor
        held: list[Lease] = []
        for role_name, key in await list_lease_keys(self._kv, role.name):
            found = await read_lease(self._kv, role_name, key)
            if found is None:
                continue
            lease = found[0]
            if (
                lease.state is LeaseState.ACTIVE
                and (lease.caller.entity_id or lease.caller.accessor) == who
                and lease.instance_id == instance_id
            ):
                held.append(lease)
        for lease in sorted(held, key=lambda item: item.issued_at)[: len(held) - cap + 1]:
            try:
                await self._leases.revoke(lease.lease_id, reason="replaced")
            except KeymintError as exc:
                log.warning("replace_failed", lease_id=lease.lease_id, error=exc.message)

    async def _abandon(self, sub_uid: int, key: str, exc: BybitError) -> None:
        """Free the slot unless a key may exist at Bybit without a lease."""
        if isinstance(exc, CreateOutcomeLost) and exc.outcome not in (
            CreateOutcome.NOT_CREATED,
            CreateOutcome.DELETED,
        ):
            log.error(
                "mint_outcome_unknown", subaccount=sub_uid, outcome=exc.outcome.name, lease=key
            )
            return
        await release_slot(self._kv, sub_uid, key)

    async def roll_back(self, new: NewKey) -> None:
        """The key's record could not be stored: delete it so no unrecorded key stays live."""
        try:
            bybit = await self._master.client()
            await bybit.delete_sub_api_key(new.created.api_key)
            await release_slot(self._kv, new.subaccount_uid, new.key)
        except (BybitError, KeymintError) as exc:
            # The slot still names the note: the start-up replay and reconciliation delete it.
            log.error(
                "mint_rollback_failed",
                subaccount=new.subaccount_uid,
                error_class=type(exc).__name__,
            )
            raise Unavailable(
                "the key was created but its lease could not be stored; it will be deleted by "
                "reconciliation"
            ) from None
