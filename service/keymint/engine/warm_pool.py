"""The warm pool: keys created ahead, so a fleet starting together is not held to Bybit's one
new key per second.

A pooled key holds a POOL slot and a record at `pool/<role>/<key>` with its secret (in Vault
only). Handing one out claims the record by a check-and-set delete, turns the slot into a
LEASE slot, and only then writes the lease: at every step a crash leaves an unowned slot that
reconciliation deletes, never a key two bots share.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable

import structlog
from pydantic import BaseModel, SecretStr

from keymint.bybit.models import CreatedApiKey
from keymint.engine.capacity import SlotKind, rekind_slot
from keymint.engine.creds import Issuer, NewKey
from keymint.engine.ports import KV
from keymint.engine.roles import Role
from keymint.engine.store import pool_path
from keymint.errors import Conflict, KeymintError

log = structlog.get_logger(__name__)


def role_digest(role: Role) -> str:
    """What a pooled key was made for: a changed role must not hand out an old key."""
    shape = {k: getattr(role, k) for k in ("permissions", "ips", "read_only", "note_prefix")}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


class PooledKey(BaseModel):
    key: str
    note: str
    subaccount_uid: int
    api_key: str
    api_secret: str
    role_digest: str
    created_at: float

    def as_new_key(self, role: Role) -> NewKey:
        return NewKey(
            key=self.key,
            note=self.note,
            subaccount_uid=self.subaccount_uid,
            created=CreatedApiKey(
                id="",
                api_key=self.api_key,
                note=self.note,
                read_only=role.read_only,
                secret=SecretStr(self.api_secret),
                permissions=role.permissions,
                ips=role.ips,
            ),
        )


class WarmPool:
    def __init__(
        self,
        kv: KV,
        issuer: Issuer,
        *,
        still_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._issuer = issuer
        self._still_leader = still_leader
        self._clock = clock

    async def _keys(self, role: str) -> list[str]:
        return [k for k in await self._kv.list(f"pool/{role}/") if not k.endswith("/")]

    async def size(self, role: str) -> int:
        return len(await self._keys(role))

    async def take(self, role: Role) -> NewKey | None:
        """A ready key for `role`, now owned by the caller's lease-to-be; None when empty."""
        digest = role_digest(role)
        keys = await self._keys(role.name)
        # In random order: a fleet starting together would otherwise all read and race for the
        # same first key, each loser moving on to the next (n requests, ~n²/2 reads and CAS
        # conflicts; bench: fleet start with a warm pool).
        random.shuffle(keys)
        for key in keys:
            found = await self._kv.read(pool_path(role.name, key))
            if found is None:
                continue
            pooled = PooledKey.model_validate(found.data)
            try:
                await self._kv.delete(pool_path(role.name, key), cas=found.version)
            except Conflict:
                continue  # another request claimed it first
            await rekind_slot(self._kv, pooled.subaccount_uid, key, SlotKind.LEASE)
            new = pooled.as_new_key(role)
            if pooled.role_digest != digest:
                # The role changed since this key was made: never hand out old rights.
                await self._issuer.roll_back(new)
                continue
            return new
        return None

    async def refill(self, roles: list[Role]) -> int:
        """Create what each role's pool lacks, paced by the client's create limit."""
        created = 0
        for role in roles:
            missing = role.warm_pool - await self.size(role.name)
            for _ in range(max(0, missing)):
                if not self._still_leader():
                    return created
                try:
                    new = await self._issuer.create_key(role, kind=SlotKind.POOL, grow=role)
                except KeymintError as exc:
                    log.warning("warm_pool_refill_failed", role=role.name, error=exc.message)
                    break
                record = PooledKey(
                    key=new.key,
                    note=new.note,
                    subaccount_uid=new.subaccount_uid,
                    api_key=new.created.api_key,
                    api_secret=new.created.secret.get_secret_value(),
                    role_digest=role_digest(role),
                    created_at=self._clock(),
                )
                try:
                    await self._kv.write(pool_path(role.name, new.key), record.model_dump(), cas=0)
                except KeymintError:
                    await self._issuer.roll_back(new)
                    raise
                created += 1
        if created:
            log.info("warm_pool_refilled", created=created)
        return created
