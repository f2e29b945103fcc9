"""The optional state file: accounts and keys (secrets included: it is a simulator) as JSON."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from bybit_sim.state import SimState

log = logging.getLogger(__name__)


class StateFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> SimState:
        if self.path is None or not self.path.exists():
            return SimState()
        state = SimState.from_json(json.loads(self.path.read_text()))
        log.info(
            "loaded %d accounts and %d keys from %s",
            len(state.accounts),
            len(state.keys),
            self.path,
        )
        return state

    def save_if_dirty(self, state: SimState) -> None:
        if not state.dirty:
            return
        state.dirty = False
        if self.path is None:
            return
        # Write-then-rename so a crash mid-write never leaves a truncated file to load.
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=1))
        os.replace(tmp, self.path)
