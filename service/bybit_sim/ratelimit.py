"""Rate limits (bybit-v5.md section 4): the per-UID API limit and the per-IP limit.

Windows run on the monotonic clock, not the controllable server clock, so moving the server clock
by days neither clears nor fills a window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from bybit_sim.clock import wall_ms
from bybit_sim.config import SimConfig


def _mono_ms() -> float:
    return time.monotonic() * 1000


@dataclass(frozen=True)
class Limit:
    count: int
    window_ms: int = 1000


@dataclass
class _Window:
    """Request times inside one rolling window."""

    window_ms: float
    hits: deque[float] = field(default_factory=deque)

    def count(self, now: float) -> int:
        while self.hits and self.hits[0] <= now - self.window_ms:
            self.hits.popleft()
        return len(self.hits)

    def ms_until_slot(self, now: float) -> float:
        return self.hits[0] + self.window_ms - now


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def as_refusal(self) -> Verdict:
        """This verdict for an answer that says 10006 anyway (an injected fault)."""
        return Verdict(False, self.limit, 0, max(self.reset_ms, wall_ms()) + 1000)

    def headers(self) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class UidRateLimiter:
    """Per-UID, per-endpoint rolling windows; refused requests do not use up the window."""

    def __init__(self) -> None:
        self._windows: dict[tuple[int, str], _Window] = {}

    def check(self, uid: int, path: str, limit: Limit, scale: float, server_now_ms: int) -> Verdict:
        allowed = max(1, math.floor(limit.count * scale))
        window = self._windows.setdefault((uid, path), _Window(limit.window_ms))
        now = _mono_ms()
        used = window.count(now)
        if used >= allowed:
            # pybit sleeps until this time by its own clock and crashes on a negative sleep, so
            # the reset must be in the future for the server and for a client behind it alike.
            wait = max(1, math.ceil(window.ms_until_slot(now)))
            return Verdict(False, allowed, 0, max(server_now_ms, wall_ms()) + wait)
        window.hits.append(now)
        # Docs: when not exceeded the reset header is "roughly the current timestamp".
        return Verdict(True, allowed, allowed - used - 1, server_now_ms)

    def clear(self) -> None:
        self._windows.clear()


class IpRateLimiter:
    """600 requests per 5 s per source IP; a breach bans the IP for a while."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._banned_until: dict[str, float] = {}

    def allow(self, ip: str, config: SimConfig) -> bool:
        now = _mono_ms()
        if self._banned_until.get(ip, 0.0) > now:
            return False
        window = self._windows.setdefault(ip, _Window(0))
        # PUT /__sim__/config may have changed the window since the last request.
        window.window_ms = config.ip_limit_window_seconds * 1000
        if window.count(now) >= config.ip_limit_requests:
            self._banned_until[ip] = now + config.ip_ban_seconds * 1000
            window.hits.clear()
            return False
        window.hits.append(now)
        return True

    def clear(self) -> None:
        self._windows.clear()
        self._banned_until.clear()
