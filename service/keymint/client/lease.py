"""What a lease does on its own, whatever drives it (a thread or an asyncio task): when to renew,
when to mint its replacement ahead of `max_ttl`, and when a replaced key may be revoked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from keymint.client.errors import KeymintError, LeaseNotFound
from keymint.client.protocol import Credentials, LeaseTimes, MintSpec

log = logging.getLogger("keymint.client")

Listener = Callable[[Credentials], object]
Action = Literal["renew", "rotate", "revoke"]

# After a failed renewal, try again this often (at most), while the lease still lives.
RENEW_RETRY_S = 5.0


@dataclass
class LeasePlan:
    """The lease's timetable on the bot's monotonic clock."""

    spec: MintSpec
    credentials: Credentials
    clock: Callable[[], float]
    renew_fraction: float = 2 / 3
    grace_s: float = 30.0
    rotate_before_s: float | None = None
    listeners: list[Listener] = field(default_factory=list)
    rotations: int = 0
    # Replaced leases, each revoked once its grace is over: (when, lease_id).
    retiring: list[tuple[float, str]] = field(default_factory=list)
    renew_at: float = 0.0
    expires_at: float = 0.0
    max_at: float | None = None
    ttl_s: float = 0.0
    lifetime_s: float | None = None
    # Set when the lease is gone (revoked underneath, expired): mint a new one at once.
    lost: bool = False
    rotate_retry_at: float = 0.0

    def start(self, times: LeaseTimes) -> None:
        now = self.clock()
        self.ttl_s = times.ttl_s
        self.expires_at = now + times.ttl_s
        self.renew_at = now + times.ttl_s * self.renew_fraction
        if times.max_ttl_left_s is not None:
            self.max_at = now + times.max_ttl_left_s
            self.lifetime_s = times.max_ttl_left_s

    def rotate_at(self) -> float | None:
        if self.max_at is None:
            return None
        lead = self.rotate_before_s
        if lead is None:
            # The old key must outlive its grace, and the new mint may queue for a while.
            lead = self.grace_s + min(60.0, self.ttl_s / 3)
        if self.lifetime_s is not None:
            # A lease shorter than the lead would be replaced as soon as it is minted, and its
            # replacement too: each lease serves at least half its life.
            lead = min(lead, self.lifetime_s / 2)
        return self.max_at - lead

    def next(self) -> tuple[Action, float]:
        if self.lost:
            return "rotate", max(self.clock(), self.rotate_retry_at)
        rotate_at = self.rotate_at()
        if rotate_at is not None and rotate_at <= self.renew_at:
            upcoming: tuple[Action, float] = ("rotate", max(rotate_at, self.rotate_retry_at))
        else:
            upcoming = ("renew", self.renew_at)
        if self.retiring and self.retiring[0][0] < upcoming[1]:
            return "revoke", self.retiring[0][0]
        return upcoming

    def due_retirements(self) -> list[str]:
        now = self.clock()
        due = [lease_id for at, lease_id in self.retiring if at <= now]
        self.retiring = [(at, lease_id) for at, lease_id in self.retiring if at > now]
        return due

    def renewed(self, body: dict[str, Any]) -> None:
        for warning in body.get("warnings") or []:
            log.warning("renewal of %s: %s", self.credentials.lease_id, warning)
        self.start(LeaseTimes.from_lease_data(body["data"]))

    def failed(self, action: Action, exc: KeymintError) -> None:
        log.warning("lease %s: %s", self.credentials.lease_id, exc.message)
        if action == "renew" and isinstance(exc, LeaseNotFound):
            self.lost = True
        elif action == "renew":
            self.renew_failed()
        elif action == "rotate":
            self.rotation_failed()

    def renew_failed(self) -> None:
        now = self.clock()
        left = self.expires_at - now
        if left <= 1.0:
            self.lost = True
        else:
            self.renew_at = now + min(RENEW_RETRY_S, left / 4)

    def rotation_failed(self) -> None:
        # Tried again soon; until then the current key (if any) still works.
        self.rotate_retry_at = self.clock() + RENEW_RETRY_S / 5

    def replaced(self, credentials: Credentials, times: LeaseTimes) -> None:
        old, old_alive = self.credentials, not self.lost
        self.credentials = credentials
        self.max_at = None
        self.lost = False
        self.rotate_retry_at = 0.0
        self.start(times)
        self.rotations += 1
        if old_alive:
            self.retiring.append((self.clock() + self.grace_s, old.lease_id))
        for listener in self.listeners:
            try:
                listener(credentials)
            except Exception as exc:
                # A bot's callback failing must not stop the renewals of the key it has.
                log.error("on_rotate callback failed: %s", type(exc).__name__)
        log.info("lease %s replaced by %s", old.lease_id, credentials.lease_id)
