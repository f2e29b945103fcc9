"""One scheduler among replicas: a leader lock in Vault KV, taken and renewed by check-and-set.

The lock is `{holder, expires_at, term}`. A replica holds it until `expires_at`; it renews well
before, and stops acting as leader as soon as a renewal fails or its local deadline passes,
whichever comes first, so two replicas never both believe they lead. Everything a leader does
is itself a check-and-set on the records it changes, so a deposed leader still mid-job cannot
apply a change twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from keymint.engine.ports import KV
from keymint.errors import Conflict, KeymintError, Unavailable

log = structlog.get_logger(__name__)

LEADER = "leader"


class LeaderLost(Unavailable):
    """This replica stopped leading while a leader-only job was running: the job stops before
    its next write at Bybit, and the new leader carries on."""


class LeaderLock:
    def __init__(
        self,
        kv: KV,
        holder: str,
        *,
        lease_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self.holder = holder
        self.lease_s = lease_s
        self._clock = clock
        self._monotonic = monotonic
        # Local deadline on the monotonic clock: wall-clock jumps cannot extend leadership.
        self._valid_until = 0.0
        self.term = 0

    @property
    def is_leader(self) -> bool:
        return self._monotonic() < self._valid_until

    async def tick(self) -> bool:
        """Take, renew or fail to get the lock; True while this replica leads."""
        started = self._monotonic()
        try:
            found = await self._kv.read(LEADER)
            now = self._clock()
            data = dict(found.data) if found else {}
            ours = data.get("holder") == self.holder
            free = not found or float(data.get("expires_at", 0)) < now
            if not (ours or free):
                self._lose(data.get("holder"))
                return False
            term = int(data.get("term", 0)) + (0 if ours else 1)
            await self._kv.write(
                LEADER,
                {"holder": self.holder, "expires_at": now + self.lease_s, "term": term},
                cas=found.version if found else 0,
            )
        except (Conflict, KeymintError) as exc:
            self._lose(None, error=type(exc).__name__)
            return False
        if not self.is_leader:
            log.info("leader_elected", holder=self.holder, term=term)
        self.term = term
        # Count from before the read: the lock may have been written late in our window.
        self._valid_until = started + self.lease_s * 0.8
        return True

    def fence(self) -> Fence:
        """A guard for one job run: valid while this replica leads in the term it started in."""
        return Fence(self, self.term if self.is_leader else -1)

    def _lose(self, other: object, error: str | None = None) -> None:
        if self.is_leader:
            log.warning("leader_lost", holder=self.holder, other=other, error=error)
        self._valid_until = 0.0

    async def release(self) -> None:
        """Hand the lock over at shutdown instead of making the others wait for expiry."""
        if not self.is_leader:
            return
        self._valid_until = 0.0
        try:
            found = await self._kv.read(LEADER)
            if found and found.data.get("holder") == self.holder:
                await self._kv.write(LEADER, {**found.data, "expires_at": 0.0}, cas=found.version)
        except KeymintError:
            pass


class Fence:
    """Checked before every write a leader-only job makes at Bybit. A replica paused past its
    lease (a GC stall, SIGSTOP, a slow disk) finds on waking that it no longer leads, or leads
    in a newer term, and stops: `leader_lost` is logged once and `LeaderLost` raised."""

    def __init__(self, lock: LeaderLock, term: int) -> None:
        self._lock = lock
        self.term = term
        self._lost = False

    def check(self, doing: str) -> None:
        if self._lock.is_leader and self._lock.term == self.term:
            return
        if not self._lost:
            self._lost = True
            log.warning("leader_lost", holder=self._lock.holder, term=self.term, stopped=doing)
        raise LeaderLost(f"{doing}: this replica no longer leads (term {self.term})")
