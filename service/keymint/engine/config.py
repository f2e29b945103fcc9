"""`/v1/config`: the engine's non-secret settings, stored in Vault over the process settings,
and what `/v1/config` and readiness show of the master credential (never its secret)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from keymint.engine.master import MASTER, configured
from keymint.engine.ports import KV
from keymint.engine.records import data_of
from keymint.errors import BadRequest

ENGINE_CONFIG = "config/engine"
# How long a replica may keep using engine settings another replica changed.
TTL_S = 10.0


@dataclass(frozen=True)
class EngineConfig:
    bybit_base_url: str

    def public(self) -> dict[str, Any]:
        return {"bybit_base_url": self.bybit_base_url}


@dataclass(frozen=True)
class MasterSummary:
    configured: bool
    api_key: str
    master_uid: str


class EngineConfigStore:
    def __init__(
        self,
        kv: KV,
        *,
        default_base_url: str,
        check_base_url: Callable[[str], object],
        on_change: Callable[[EngineConfig], Awaitable[None]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self._default = default_base_url
        self._check = check_base_url
        self._on_change = on_change
        self._monotonic = monotonic
        self._config: EngineConfig | None = None
        self._read_at = 0.0

    async def current(self) -> EngineConfig:
        if self._config is None or self._monotonic() - self._read_at > TTL_S:
            data, _ = data_of(await self._kv.read(ENGINE_CONFIG))
            config = EngineConfig(bybit_base_url=str(data.get("bybit_base_url") or self._default))
            if self._config is not None and config != self._config:
                await self._on_change(config)
            self._config, self._read_at = config, self._monotonic()
        return self._config

    async def update(self, base_url: str) -> EngineConfig:
        try:
            self._check(base_url)
        except ValueError as exc:
            raise BadRequest(f"bybit_base_url: {exc}") from None
        current = await self._kv.read(ENGINE_CONFIG)
        await self._kv.write(
            ENGINE_CONFIG, {"bybit_base_url": base_url}, cas=current.version if current else 0
        )
        self._read_at = 0.0
        return await self.current()

    async def master(self) -> MasterSummary:
        data, _ = data_of(await self._kv.read(MASTER))
        return MasterSummary(
            configured=configured(data),
            api_key=str(data.get("api_key", "")),
            master_uid=str(data.get("master_uid", "")),
        )
