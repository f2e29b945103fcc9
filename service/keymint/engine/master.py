"""The Bybit master credential, read from Vault and followed when an operator rotates it.

The credential is cached by its KV version and re-read every `refresh_s`, and at once after
Bybit refuses it, so `bao kv put .../config/master` takes effect within seconds on every
replica (at once where the old key is already refused), with no restart and without a Vault
read per request.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from pydantic import SecretStr

from keymint.engine.events import EngineEvents
from keymint.engine.ports import (
    KV,
    Bybit,
    BybitFailure,
    CreatedKey,
    KeySpec,
    ListedKey,
    MasterKeyRefused,
)
from keymint.errors import KeymintError, Unavailable

log = structlog.get_logger(__name__)

MASTER = "config/master"
FIELDS = ("api_key", "api_secret", "master_uid")

# Builds a Bybit client for a credential; called again only when the credential changes.
ClientFactory = Callable[[str, SecretStr], Bybit]
T = TypeVar("T")


def configured(data: Mapping[str, Any]) -> bool:
    """Whether a `config/master` record holds a credential keymint can sign with."""
    return bool(data.get("api_key") and data.get("api_secret"))


def not_configured(kv: KV, data: Mapping[str, Any]) -> Unavailable:
    missing = [name for name in FIELDS if not data.get(name)]
    return Unavailable(
        f"the Bybit master credential is not configured: KV path '{kv.location(MASTER)}' "
        f"lacks {', '.join(missing)} (expected fields: {', '.join(FIELDS)})"
    )


class MasterHealth:
    """Whether the master credential is in Vault (read at every readiness probe) and accepted
    by Bybit (tried at start and every KEYMINT_MASTER_KEY_CHECK_S on every replica: Bybit's
    query-api counts against its rate limit, and a probe must never call Bybit)."""

    def __init__(self, kv: KV, bybit: Bybit, events: EngineEvents) -> None:
        self._kv = kv
        self._bybit = bybit
        self._events = events
        self._refused: str | None = None

    async def check(self) -> None:
        try:
            expiry = await self._bybit.master_key_expiry()
        except MasterKeyRefused as exc:
            self._refused = exc.message
            log.warning("master_credential_failing", error=exc.message)
            return
        except (BybitFailure, KeymintError) as exc:
            # Bybit unreachable or the credential absent: not a verdict on the key.
            log.warning(
                "master_key_check_failed", error=getattr(exc, "message", type(exc).__name__)
            )
            return
        if self._refused is not None:
            log.info("master_credential_accepted")
        self._refused = None
        self._events.master_key_checked(expiry)

    async def ready(self) -> None:
        """Raises Unavailable saying what is wrong with the master credential."""
        found = await self._kv.read(MASTER)
        data = found.data if found else {}
        if not configured(data):
            raise not_configured(self._kv, data)
        if self._refused is not None:
            raise Unavailable(
                f"the Bybit master credential is failing: Bybit refused it ({self._refused}); "
                f"check the key in '{self._kv.location(MASTER)}', its permissions and its IP "
                "binding"
            )


class MasterKey:
    def __init__(
        self,
        kv: KV,
        factory: ClientFactory,
        *,
        refresh_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self._factory = factory
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._version = -1
        self._client: Bybit | None = None
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    async def client(self) -> Bybit:
        async with self._lock:
            if self._client is None or self._monotonic() >= self._fresh_until:
                await self._reload()
            assert self._client is not None
            return self._client

    async def _reload(self) -> None:
        found = await self._kv.read(MASTER)
        if found is None or not configured(found.data):
            self._client = None
            raise not_configured(self._kv, found.data if found else {})
        if found.version != self._version or self._client is None:
            self._client = self._factory(
                str(found.data["api_key"]), SecretStr(str(found.data["api_secret"]))
            )
            self._version = found.version
        self._fresh_until = self._monotonic() + self._refresh_s

    def distrust(self) -> None:
        """Bybit refused the credential: read it again before the next call."""
        self._fresh_until = 0.0

    def forget(self) -> None:
        """Build a fresh client on the next call (the Bybit endpoint changed)."""
        self._version = -1
        self._client = None
        self._fresh_until = 0.0

    @property
    def version(self) -> int:
        """The KV version of the credential in use."""
        return self._version


class MasterBybit:
    """Bybit, signed with whatever the master credential is now: the engine's one `Bybit`."""

    def __init__(self, master: MasterKey) -> None:
        self._master = master

    async def _call(self, call: Callable[[Bybit], Awaitable[T]]) -> T:
        """A refusal of the master key re-reads it from Vault; when an operator has rotated it
        meanwhile, the call is made once more with the new one (a refused call did nothing)."""
        client = await self._master.client()
        version = self._master.version
        try:
            return await call(client)
        except MasterKeyRefused:
            self._master.distrust()
            fresh = await self._master.client()
            if self._master.version == version:
                raise
            return await call(fresh)

    async def create_key(self, sub_uid: int, *, note: str, spec: KeySpec) -> CreatedKey:
        return await self._call(lambda b: b.create_key(sub_uid, note=note, spec=spec))

    async def update_key(self, api_key: str, spec: KeySpec) -> None:
        await self._call(lambda b: b.update_key(api_key, spec))

    async def delete_key(self, api_key: str, sub_uid: int) -> None:
        await self._call(lambda b: b.delete_key(api_key, sub_uid))

    async def list_keys(self, sub_uid: int) -> builtins.list[ListedKey]:
        return await self._call(lambda b: b.list_keys(sub_uid))

    async def master_key_expiry(self) -> float | None:
        return await self._call(lambda b: b.master_key_expiry())

    async def create_subaccount(self, username: str, *, note: str) -> int:
        return await self._call(lambda b: b.create_subaccount(username, note=note))

    async def subaccount_uids(self) -> builtins.set[int]:
        return await self._call(lambda b: b.subaccount_uids())
