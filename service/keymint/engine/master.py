"""The Bybit master credential, read from Vault and followed when an operator rotates it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import SecretStr

from keymint.engine.ports import KV, BybitKeys
from keymint.engine.store import MASTER
from keymint.errors import Unavailable

# Builds a Bybit client for a credential; called again only when the credential changes.
ClientFactory = Callable[[str, SecretStr], BybitKeys]


class MasterKey:
    """Hands out a Bybit client signed with the master credential's current KV version.

    Each call reads the record (one KV read), so `bao kv put .../config/master` takes effect on
    the next request, on every replica, with no restart and no cache to expire.
    """

    def __init__(self, kv: KV, factory: ClientFactory) -> None:
        self._kv = kv
        self._factory = factory
        self._version = -1
        self._client: BybitKeys | None = None
        self._master_uid = ""
        self._lock = asyncio.Lock()

    async def client(self) -> BybitKeys:
        found = await self._kv.read(MASTER)
        if found is None or not found.data.get("api_key") or not found.data.get("api_secret"):
            raise Unavailable(
                f"the Bybit master credential is not configured: write api_key, api_secret and "
                f"master_uid to KV path '{MASTER}' under keymint's prefix"
            )
        async with self._lock:
            if found.version != self._version or self._client is None:
                self._client = self._factory(
                    str(found.data["api_key"]), SecretStr(str(found.data["api_secret"]))
                )
                self._version = found.version
                self._master_uid = str(found.data.get("master_uid", ""))
            return self._client

    def forget(self) -> None:
        """Build a fresh client on the next call (the Bybit endpoint changed)."""
        self._version = -1
        self._client = None

    @property
    def master_uid(self) -> str:
        return self._master_uid
