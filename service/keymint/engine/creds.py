"""Minting a dynamic credential: the path from a role to a live, IP-pinned Bybit key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from pydantic import SecretStr

from keymint.bybit.errors import BybitError, CreateOutcome, CreateOutcomeLost, KeyCapError
from keymint.engine.capacity import (
    Slot,
    mark_full,
    pool_exhausted,
    release_slot,
    reserve_slot,
)
from keymint.engine.durations import format_duration
from keymint.engine.leases import Caller, Lease, new_lease_key
from keymint.engine.master import MasterKey
from keymint.engine.ports import KV
from keymint.engine.roles import Role
from keymint.engine.store import write_lease
from keymint.engine.upstream import translate
from keymint.errors import BadRequest, KeymintError, Unavailable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Minted:
    lease: Lease
    secret: SecretStr


class Issuer:
    def __init__(
        self,
        kv: KV,
        master: MasterKey,
        *,
        key_limit: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._master = master
        self._key_limit = key_limit
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

    async def mint(self, role: Role, *, caller: Caller, ttl: int | None = None) -> Minted:
        """Reserve a slot (the write-ahead intent), create the key, then record the lease.

        A key exists at Bybit only while a slot naming its note exists in Vault, so a crash at
        any point leaves something the start-up replay or reconciliation can find and delete.
        """
        lease_ttl = self.lease_ttl(role, ttl)
        bybit = await self._master.client()
        key = new_lease_key()
        note = f"{role.note_prefix}:{key}"
        tried: list[int] = []
        while True:
            pool = [uid for uid in role.subaccounts if uid not in tried]
            sub_uid = await reserve_slot(
                self._kv,
                pool,
                key=key,
                slot=Slot(role=role.name, note=note, reserved_at=self._clock()),
                limit=self._key_limit,
                role=role.name,
            )
            try:
                created = await bybit.create_sub_api_key(
                    sub_uid,
                    note=note,
                    permissions=role.permissions,
                    read_only=role.read_only,
                    ips=role.ips,
                )
            except KeyCapError:
                # Someone else's keys filled this sub-account: remember that, try the next.
                await mark_full(self._kv, sub_uid, limit=self._key_limit)
                await release_slot(self._kv, sub_uid, key)
                tried.append(sub_uid)
                if len(tried) == len(role.subaccounts):
                    raise await pool_exhausted(
                        self._kv, role.subaccounts, limit=self._key_limit, role=role.name
                    ) from None
                continue
            except BybitError as exc:
                await self._abandon(sub_uid, key, exc)
                raise translate(exc, doing=f"minting a key for role {role.name!r}") from None
            break

        issued = self._clock()
        lease = Lease(
            key=key,
            role=role.name,
            subaccount_uid=sub_uid,
            api_key=created.api_key,
            note=note,
            permissions=role.permissions,
            ips=role.ips,
            read_only=role.read_only,
            issued_at=issued,
            expires_at=issued + lease_ttl,
            max_expires_at=issued + role.max_ttl,
            renew_ttl=role.ttl,
            caller=caller,
        )
        try:
            await write_lease(self._kv, lease, cas=0)
        except KeymintError:
            await self._roll_back(bybit_key=created.api_key, sub_uid=sub_uid, key=key)
            raise
        log.info(
            "lease_issued",
            role=role.name,
            lease_id=lease.lease_id,
            api_key=created.api_key,
            subaccount=sub_uid,
            caller=caller.display_name,
        )
        return Minted(lease=lease, secret=created.secret)

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

    async def _roll_back(self, *, bybit_key: str, sub_uid: int, key: str) -> None:
        """The lease could not be stored: delete the key so no unrecorded key stays live."""
        try:
            bybit = await self._master.client()
            await bybit.delete_sub_api_key(bybit_key)
            await release_slot(self._kv, sub_uid, key)
        except (BybitError, KeymintError) as exc:
            # The slot still names the note: the start-up replay and reconciliation delete it.
            log.error("mint_rollback_failed", subaccount=sub_uid, error_class=type(exc).__name__)
            raise Unavailable(
                "the key was created but its lease could not be stored; it will be deleted by "
                "reconciliation"
            ) from None
