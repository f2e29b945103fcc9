"""`Idempotency-Key`: a caller's retry of the same mint gets the same lease and key.

The finished answer (secret included) is kept in Vault, never in the process, so a retry that
lands on another replica is answered too; after the window it is purged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from keymint.engine.ports import KV
from keymint.engine.store import idempotency_path
from keymint.errors import BadRequest, Conflict

WINDOW_S = 600
MAX_KEY_LENGTH = 255


def digest(*, caller: str, role: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters")
    return hashlib.sha256(f"{caller}\0{role}\0{key}".encode()).hexdigest()


class Idempotency:
    def __init__(self, kv: KV, *, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._clock = clock

    async def begin(self, digest_: str) -> tuple[dict[str, Any] | None, int]:
        """(the earlier answer, if any, and the version to finish with).

        A mint still in flight under the same key is a 409: the caller retries after it ends.
        """
        path = idempotency_path(digest_)
        found = await self._kv.read(path)
        now = self._clock()
        if found is not None and now - float(found.data.get("started_at", 0)) < WINDOW_S:
            if found.data.get("response") is not None:
                return dict(found.data["response"]), found.version
            raise Conflict("a request with this Idempotency-Key is still in progress")
        version = await self._kv.write(
            path, {"started_at": now, "response": None}, cas=0 if found is None else found.version
        )
        return None, version

    async def finish(self, digest_: str, version: int, response: dict[str, Any]) -> None:
        path = idempotency_path(digest_)
        await self._kv.write(path, {"started_at": self._clock(), "response": response}, cas=version)

    async def abandon(self, digest_: str, version: int) -> None:
        await self._kv.delete(idempotency_path(digest_), cas=version)

    async def purge(self) -> int:
        """Drop records older than the window; the scheduler calls this."""
        purged = 0
        now = self._clock()
        for name in await self._kv.list("idempotency/"):
            found = await self._kv.read(idempotency_path(name))
            if found is not None and now - float(found.data.get("started_at", 0)) >= WINDOW_S:
                await self._kv.delete(idempotency_path(name), cas=found.version)
                purged += 1
        return purged
