"""`max_leases_per_caller`: live leases one caller (and instance id) may hold on a role.

Each capped caller has one record, `callers/<role>/<digest>`, listing its leases. A mint adds
its lease there by check-and-set once the lease is live, and what is beyond the cap, the
oldest first, is revoked: concurrent mints on any number of replicas serialise on that record,
so the caller ends with at most `cap` leases however many mints race.
"""

from __future__ import annotations

import hashlib

from keymint.engine.caller import Caller
from keymint.engine.dynamic.lease import Lease, parse_lease_id
from keymint.engine.dynamic.role import Role
from keymint.engine.keys.account import KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.ports import KV
from keymint.engine.records import data_of, with_cas_retry


def caller_path(role: str, caller: Caller, instance_id: str) -> str:
    who = hashlib.sha256(f"{caller.identity}\0{instance_id}".encode()).hexdigest()[:32]
    return f"callers/{role}/{who}"


class CallerCaps:
    def __init__(self, kv: KV, store: AccountStore) -> None:
        self._kv = kv
        self._store = store

    async def admit(self, role: Role, caller: Caller, lease: Lease) -> list[str]:
        """Record `lease` as the caller's; the lease ids it must give up, oldest first."""
        cap = role.max_leases_per_caller
        if cap is None:
            return []
        path = caller_path(role.name, caller, lease.instance_id)

        async def attempt() -> list[str]:
            data, version = data_of(await self._kv.read(path))
            held: dict[str, float] = dict(data.get("leases", {}))
            held[lease.lease_id] = lease.issued_at
            if len(held) > cap:
                # Leases revoked or expired since are only listed: drop them before counting.
                for lid in [lid for lid in held if lid != lease.lease_id]:
                    if not await self._alive(lid):
                        del held[lid]
            ordered = sorted(held, key=lambda lid: held[lid])
            beyond = ordered[: max(0, len(ordered) - cap)]
            kept = {lid: held[lid] for lid in ordered if lid not in beyond}
            await self._kv.write(path, {"leases": kept}, cas=version)
            return beyond

        return await with_cas_retry(
            attempt, what=f"counting the leases of a caller of {role.name!r}"
        )

    async def _alive(self, lid: str) -> bool:
        ref = parse_lease_id(lid)
        if ref is None:
            return False
        entry = (await self._store.read(ref.uid)).keys.get(ref.key)
        return entry is not None and entry.owner is Owner.LEASE and entry.state is KeyState.ACTIVE
