"""The simulator's live parts in one place, so a reset can put every one of them back."""

from __future__ import annotations

import asyncio

from bybit_sim.clock import SimClock
from bybit_sim.config import SimConfig
from bybit_sim.faults import FaultBook
from bybit_sim.persistence import StateFile
from bybit_sim.ratelimit import IpRateLimiter, UidRateLimiter
from bybit_sim.requestlog import RequestLog
from bybit_sim.state import SimState


class Simulator:
    def __init__(self, startup_config: SimConfig, state_file: StateFile) -> None:
        self.startup_config = startup_config
        self.config = startup_config
        self.state_file = state_file
        self.state = state_file.load()
        self.clock = SimClock()
        self.uid_limiter = UidRateLimiter()
        self.ip_limiter = IpRateLimiter()
        self.faults = FaultBook()
        self.requests = RequestLog()
        # Set to let requests held by a `timeout` fault go (by closing their connections).
        self.release_held = asyncio.Event()

    def reset(self) -> None:
        self.config = self.startup_config
        self.state = SimState(dirty=True)
        self.clock = SimClock()
        self.uid_limiter.clear()
        self.ip_limiter.clear()
        self.faults = FaultBook()
        self.requests = RequestLog()
        self.release_held.set()
        self.release_held = asyncio.Event()
        self.persist()

    def persist(self) -> None:
        self.state_file.save_if_dirty(self.state)
