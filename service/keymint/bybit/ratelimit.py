"""Client-side pacing at Bybit's published per-UID, per-endpoint limits.

Bybit counts requests per UID and endpoint in a rolling one-second window and answers 10006
past the limit. Pacing here keeps callers under it, so 10006 becomes the exception, not the
feedback loop.
"""

import asyncio
import math
import time
from collections import deque

# Requests per second, docs/v5/rate-limit (user module; none of these are upgradable).
ENDPOINT_RATES: dict[str, float] = {
    "/v5/user/create-sub-member": 1,
    "/v5/user/create-sub-api": 1,
    "/v5/user/frozen-sub-member": 5,
    "/v5/user/update-api": 5,
    "/v5/user/update-sub-api": 5,
    "/v5/user/delete-api": 5,
    "/v5/user/delete-sub-api": 5,
    "/v5/user/del-submember": 5,
    "/v5/user/query-sub-members": 10,
    "/v5/user/query-api": 10,
    "/v5/user/sub-apikeys": 10,
    "/v5/user/get-member-type": 10,
    "/v5/user/submembers": 5,
}

# Bybit counts on arrival, not on departure from here; the 5% margin absorbs the jitter between
# the two so a request sent exactly one window later cannot land inside it.
_PERIOD_S = 1.05

# Bounds how long a Reset-Timestamp header can stall callers, should it be far off or
# computed from a skewed clock.
MAX_BLOCK_S = 10.0


class _Window:
    """A rolling window admitting ``limit`` requests per ``period_s``, first come first served."""

    def __init__(self, limit: int, period_s: float) -> None:
        self._sent: deque[float] = deque(maxlen=limit)
        self._period_s = period_s
        # asyncio.Lock wakes waiters in FIFO order; holding it while sleeping queues callers.
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            # Polling, not an Event: the ready time is a moving deadline (observe() can push it
            # later while this caller sleeps), so it is re-read after every sleep.
            while (delay := self._ready_at() - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            self._sent.append(time.monotonic())

    def _ready_at(self) -> float:
        ready = self._blocked_until
        if len(self._sent) == self._sent.maxlen:
            ready = max(ready, self._sent[0] + self._period_s)
        return ready

    def block_for(self, seconds: float) -> None:
        until = time.monotonic() + min(max(seconds, 0.0), MAX_BLOCK_S)
        self._blocked_until = max(self._blocked_until, until)


class RateLimiter:
    """Async limiters per (identity, endpoint), where identity is a master UID or API key.

    ``scale`` multiplies every published rate, matching the simulator's ``rate_limit_scale``
    so benchmarks can run faster than Bybit allows. Endpoints without a published user-module
    rate (``/v5/market/time``) are not paced.
    """

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError("rate limit scale must be positive")
        self._scale = scale
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, identity: str, endpoint: str) -> _Window | None:
        rate = ENDPOINT_RATES.get(endpoint)
        if rate is None:
            return None
        window = self._windows.get((identity, endpoint))
        if window is None:
            # As the simulator scales: whole requests per one-second window, at least one.
            limit = max(1, math.floor(rate * self._scale))
            window = self._windows[identity, endpoint] = _Window(limit, _PERIOD_S)
        return window

    async def acquire(self, identity: str, endpoint: str) -> None:
        """Wait for this caller's turn to send one request."""
        window = self._window(identity, endpoint)
        if window is not None:
            await window.acquire()

    def observe(self, identity: str, endpoint: str, remaining: int, reset_in_s: float) -> None:
        """Feed back Bybit's X-Bapi-Limit-Status: when none remain, hold callers until reset."""
        window = self._window(identity, endpoint)
        if window is not None and remaining <= 0:
            window.block_for(reset_in_s)
