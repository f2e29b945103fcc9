"""Where each kind of engine state lives in KV v2, under keymint's prefix.

    config/master              the Bybit master credential (api_key, api_secret, master_uid)
    config/engine              non-secret engine settings written through /v1/config
    roles/<name>               roles created through the API (file roles are never stored)
    leases/<role>/<key>        one record per live key
    pool/<role>/<key>          a warm-pool key, created ahead and not yet handed out
    static-roles/<name>        static roles created through the API
    static-creds/<name>        a static role's current (and during overlap, previous) key:
                               readable by bots straight from Vault (Vault Agent templates)
    leader                     the scheduler's leader lock (holder, expiry)
    subaccounts/<uid>          the slot ledger: one entry per key keymint holds or is minting
    idempotency/<digest>       a pending or finished mint, replayed to a retrying caller

Every change is a check-and-set on the version read, so two replicas never both win.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from keymint.engine.leases import Lease
from keymint.engine.ports import KV, Versioned
from keymint.errors import Conflict

T = TypeVar("T")

MASTER = "config/master"
ENGINE_CONFIG = "config/engine"


def role_path(name: str) -> str:
    return f"roles/{name}"


def lease_path(role: str, key: str) -> str:
    return f"leases/{role}/{key}"


def ledger_path(sub_uid: int) -> str:
    return f"subaccounts/{sub_uid}"


def pool_path(role: str, key: str) -> str:
    return f"pool/{role}/{key}"


def static_role_path(name: str) -> str:
    return f"static-roles/{name}"


def static_creds_path(name: str) -> str:
    return f"static-creds/{name}"


LEADER = "leader"


def idempotency_path(digest: str) -> str:
    return f"idempotency/{digest}"


async def read_lease(kv: KV, role: str, key: str) -> tuple[Lease, int] | None:
    found = await kv.read(lease_path(role, key))
    if found is None:
        return None
    return Lease.model_validate(found.data), found.version


async def write_lease(kv: KV, lease: Lease, *, cas: int) -> int:
    return await kv.write(lease_path(lease.role, lease.key), lease.model_dump(mode="json"), cas=cas)


async def list_lease_keys(kv: KV, role: str | None = None) -> list[tuple[str, str]]:
    """(role, key) of every lease, or of one role's, sorted."""
    roles = [role] if role is not None else [r.rstrip("/") for r in await kv.list("leases/")]
    found: list[tuple[str, str]] = []
    for name in roles:
        found += [(name, key) for key in await kv.list(f"leases/{name}/") if not key.endswith("/")]
    return sorted(found)


async def with_cas_retry(attempt: Callable[[], Awaitable[T]], *, attempts: int = 8, what: str) -> T:
    """Run a read-modify-write until its check-and-set wins; jitter spreads racing replicas."""
    for n in range(attempts):
        try:
            return await attempt()
        except Conflict:
            await asyncio.sleep(random.uniform(0, 0.02 * (2**n)))
    raise Conflict(f"{what}: too many concurrent changes, try again")


def data_of(found: Versioned | None) -> tuple[dict[str, Any], int]:
    """A record's data and version; an absent record is empty at version 0 (create-only)."""
    if found is None:
        return {}, 0
    return dict(found.data), found.version
