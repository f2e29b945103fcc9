"""The simulator's server clock: real time plus an offset the control surface can move."""

from __future__ import annotations

import time
from datetime import UTC, datetime

DAY_MS = 86_400_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_utc(ms: int) -> str:
    """Bybit's datetime format: UTC, second precision, trailing `Z`."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimClock:
    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return wall_ms() + self.offset_ms

    def now_ns(self) -> int:
        return time.time_ns() + self.offset_ms * 1_000_000

    def advance(self, seconds: float) -> None:
        self.offset_ms += round(seconds * 1000)

    def set_now(self, ms: int) -> None:
        self.offset_ms = ms - wall_ms()

    def describe(self) -> dict[str, int]:
        return {"now_ms": self.now_ms(), "offset_ms": self.offset_ms}
