"""What an endpoint handler gets: the authenticated caller, its parameters and the simulator."""

from __future__ import annotations

from dataclasses import dataclass

from bybit_sim.config import SimConfig
from bybit_sim.params import Params
from bybit_sim.sim import Simulator
from bybit_sim.state import Account, ApiKey, SimState


@dataclass
class Call:
    sim: Simulator
    key: ApiKey
    account: Account
    params: Params
    now_ms: int

    @property
    def state(self) -> SimState:
        return self.sim.state

    @property
    def config(self) -> SimConfig:
        return self.sim.config
