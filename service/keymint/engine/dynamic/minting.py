"""Minting a dynamic credential: from a role to a live, IP-pinned Bybit key with its lease."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import structlog

from keymint.engine.caller import Caller
from keymint.engine.durations import format_duration
from keymint.engine.dynamic.caller_cap import CallerCaps
from keymint.engine.dynamic.idempotency import Idempotency, Minted, scope
from keymint.engine.dynamic.lease import Lease
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.role import Role, RoleStore
from keymint.engine.dynamic.warm_pool import WarmPool
from keymint.engine.events import EngineEvents
from keymint.engine.keys.account import KeyEntry, KeyState, Owner
from keymint.engine.keys.factory import KeyFactory
from keymint.engine.keys.provisioning import Provisioner
from keymint.errors import BadRequest, KeymintError

log = structlog.get_logger(__name__)


class Minting:
    def __init__(
        self,
        roles: RoleStore,
        factory: KeyFactory,
        warm_pool: WarmPool,
        leases: LeaseService,
        caps: CallerCaps,
        idempotency: Idempotency,
        provisioner: Provisioner,
        events: EngineEvents,
        *,
        max_lease_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_lease_ttl_s = max_lease_ttl_s
        self._roles = roles
        self._factory = factory
        self._warm_pool = warm_pool
        self._leases = leases
        self._caps = caps
        self._idempotency = idempotency
        self._provisioner = provisioner
        self._events = events
        self._clock = clock

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
        self,
        role_name: str,
        *,
        caller: Caller,
        ttl: int | None = None,
        instance_id: str = "",
        idempotency_key: str | None = None,
    ) -> Minted:
        """A leased key: from the role's warm pool when it has one ready, else created now.
        With an idempotency key, a retry gets the first call's answer."""
        role = self._within_system_max((await self._roles.get(role_name)).role)
        try:
            minted, warm = await self._mint_once(role, caller, ttl, instance_id, idempotency_key)
        except KeymintError as exc:
            self._events.minted(role.name, "refused" if exc.status_code < 500 else "failed")
            raise
        self._events.minted(role.name, "warm" if warm else "issued")
        return minted

    def _within_system_max(self, role: Role) -> Role:
        """A role stored before the system maximum was lowered gets leases within it, as a
        Vault mount's max_lease_ttl caps its roles."""
        limit = self.max_lease_ttl_s
        if role.max_ttl <= limit:
            return role
        return role.model_copy(update={"max_ttl": limit, "ttl": min(role.ttl, limit)})

    async def _mint_once(
        self,
        role: Role,
        caller: Caller,
        ttl: int | None,
        instance_id: str,
        idempotency_key: str | None,
    ) -> tuple[Minted, bool]:
        lease_ttl = self.lease_ttl(role, ttl)
        if idempotency_key is None:
            return await self._mint(role, caller, lease_ttl, instance_id)
        digest = scope(caller=caller, instance_id=instance_id, role=role.name, key=idempotency_key)
        request = hashlib.sha256(json.dumps({"ttl": ttl}).encode()).hexdigest()
        warm = False

        async def mint() -> Minted:
            nonlocal warm
            minted, warm = await self._mint(role, caller, lease_ttl, instance_id)
            return minted

        return await self._idempotency.once(digest, request, mint), warm

    async def _mint(
        self, role: Role, caller: Caller, ttl: int, instance_id: str
    ) -> tuple[Minted, bool]:
        def leased(entry: KeyEntry) -> KeyEntry:
            issued = self._clock()
            return entry.model_copy(
                update={
                    "owner": Owner.LEASE,
                    "state": KeyState.ACTIVE,
                    "api_secret": None,
                    "issued_at": issued,
                    "expires_at": issued + ttl,
                    "max_expires_at": issued + role.max_ttl,
                    "renew_ttl": role.ttl,
                    "caller": caller,
                    "instance_id": instance_id,
                }
            )

        handed = await self._warm_pool.take(role, leased) if role.warm_pool else None
        if handed is not None:
            uid, entry, secret = handed.uid, handed.entry, handed.secret
        else:
            made = await self._factory.make(
                role, owner=Owner.LEASE, pool=lambda: self._provisioner.pool_of(role), grow=role
            )
            uid, entry, secret = made.uid, await self._factory.settle(made, leased), made.secret
        lease = Lease.of(uid, entry)
        assert lease is not None
        log.info(
            "lease_issued",
            audit=True,
            role=role.name,
            lease_id=lease.lease_id,
            api_key=lease.api_key,
            subaccount=uid,
            caller=caller.display_name,
            entity_id=caller.entity_id,
            warm=handed is not None,
            outcome="issued",
        )
        await self._replace_beyond_cap(role, caller, lease)
        return Minted(lease, secret), handed is not None

    async def _replace_beyond_cap(self, role: Role, caller: Caller, lease: Lease) -> None:
        """The caller's oldest leases beyond the role's cap are revoked, after the new one is
        live, so a restarting bot does not eat the key limit."""
        try:
            for lid in await self._caps.admit(role, caller, lease):
                await self._leases.revoke(lid, reason="replaced")
        except KeymintError as exc:
            log.warning("replace_failed", lease_id=lease.lease_id, error=exc.message)
