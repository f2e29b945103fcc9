"""Leases die with the token that minted them, as in Vault.

Each lease records its minting token's accessor. The leader asks Vault about each distinct
accessor that holds a live lease (one call per token, however many leases it holds) and, for a
token Vault no longer knows (revoked or expired), revokes its leases through the ordinary
deletion protocol. Only Vault's own "no such token" answer revokes: a Vault that cannot answer
revokes nothing (an outage must never take every bot's key away).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from keymint.engine.dynamic.lease import lease_id
from keymint.engine.dynamic.role import RoleStore
from keymint.engine.keys.account import Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.deletion import KeyDeleter, Outcome
from keymint.engine.leader import Fence, LeaderLost
from keymint.engine.ports import Tokens
from keymint.errors import KeymintError, Unavailable

log = structlog.get_logger(__name__)

# Accessors asked at once: Vault answers ~1,000 calls/s on two cores, and the sweep and bots
# share it.
CONCURRENCY = 8
REASON = "token_revoked"


@dataclass
class TokenCheck:
    tokens: int = 0
    gone: int = 0
    revoked: int = 0
    # Deletions Bybit did not confirm: the lease is marked revoking and the sweep retries it.
    pending: int = 0
    # Accessors Vault could not be asked about this pass; their leases are left alone.
    unanswered: int = 0


Held = dict[str, list[tuple[int, KeyEntry]]]


def held_by_token(accounts: list[Account], exempt: set[str]) -> Held:
    """Every active lease with a recorded accessor, by accessor; roles in `exempt` opted out."""
    held: Held = defaultdict(list)
    for account in accounts:
        for entry in account.owned_by(Owner.LEASE):
            accessor = entry.caller.accessor if entry.caller else ""
            if entry.state is KeyState.ACTIVE and accessor and entry.role not in exempt:
                held[accessor].append((account.uid, entry))
    return held


class TokenLeases:
    def __init__(
        self,
        store: AccountStore,
        deleter: KeyDeleter,
        roles: RoleStore,
        tokens: Tokens,
        *,
        hash_accessor: Callable[[str], str],
    ) -> None:
        self._store = store
        self._deleter = deleter
        self._roles = roles
        # Public: the one port a test points at a Vault that is down.
        self.tokens = tokens
        self._hash_accessor = hash_accessor

    async def run(self, fence: Fence) -> TokenCheck:
        result = TokenCheck()
        exempt = {
            name for name, role in (await self._roles.all()).items() if not role.revoke_with_token
        }
        held = held_by_token(await self._store.read_many(await self._store.uids()), exempt)
        result.tokens = len(held)
        running = asyncio.Semaphore(CONCURRENCY)

        async def one(accessor: str, leases: list[tuple[int, KeyEntry]]) -> None:
            async with running:
                fence.check("the token check")
                try:
                    alive = await self.tokens.token_alive(accessor)
                except Unavailable as exc:
                    log.warning("token_check_unanswered", error=exc.message)
                    result.unanswered += 1
                    return
            if not alive:
                result.gone += 1
                await self._revoke(accessor, leases, fence, result)

        # Leadership lost mid-pass: the new leader's own pass asks about the rest.
        with contextlib.suppress(LeaderLost):
            await asyncio.gather(*(one(a, leases) for a, leases in held.items()))
        if result.gone or result.unanswered:
            log.info("token_check", **vars(result))
        return result

    async def _revoke(
        self, accessor: str, leases: list[tuple[int, KeyEntry]], fence: Fence, result: TokenCheck
    ) -> None:
        def expect(entry: KeyEntry) -> bool:
            # Still this token's, and still live: a lease revoked or renewed away is not ours.
            held = entry.caller.accessor if entry.caller else ""
            return (
                entry.owner is Owner.LEASE and entry.state is KeyState.ACTIVE and held == accessor
            )

        log.warning(
            "token_gone_revoking_leases",
            audit=True,
            accessor=self._hash_accessor(accessor),
            caller=leases[0][1].caller.display_name if leases[0][1].caller else "",
            leases=[lease_id(e.role, uid, e.key) for uid, e in leases],
            reason=REASON,
        )
        for uid, entry in leases:
            fence.check("the token check")
            try:
                retired = await self._deleter.retire(
                    uid, entry.key, reason=REASON, expect=expect, fence=fence
                )
            except LeaderLost:
                raise
            except KeymintError as exc:
                # Vault failed mid-way: the lease is still active, so the next pass finds it.
                log.warning("token_check_error", subaccount=uid, error=exc.message)
                result.pending += 1
                continue
            if retired.outcome is Outcome.DELETED:
                result.revoked += 1
            elif retired.outcome in (Outcome.PENDING, Outcome.BUSY):
                result.pending += 1
