"""`Idempotency-Key`: a caller's retry of the same mint gets the same lease and key.

A key is scoped by the caller's identity, its instance id and the role, and bound to the
request it came with: a replay with another body is refused (422), as Stripe does, instead of
silently answering with a lease minted for different terms. The finished answer (secret
included) is kept in Vault, never in the process, so a retry that lands on another replica is
answered too; after the window it is purged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from keymint.engine.caller import Caller
from keymint.engine.dynamic.lease import Lease
from keymint.engine.ports import KV
from keymint.errors import BadRequest, Conflict, Unprocessable

WINDOW_S = 600
MAX_KEY_LENGTH = 255
FOLDER = "idempotency/"


@dataclass(frozen=True)
class Minted:
    lease: Lease
    secret: SecretStr


def scope(*, caller: Caller, instance_id: str, role: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters")
    text = f"{caller.identity}\0{instance_id}\0{role}\0{key}"
    return hashlib.sha256(text.encode()).hexdigest()


class Idempotency:
    def __init__(self, kv: KV, *, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._clock = clock

    async def once(
        self, digest: str, request: str, mint: Callable[[], Awaitable[Minted]]
    ) -> Minted:
        """`mint()`'s answer, or the answer an earlier call with this key got. `request` is a
        digest of what was asked; a mint still in flight under the key is a 409."""
        path = FOLDER + digest
        found = await self._kv.read(path)
        now = self._clock()
        if found is not None and now - float(found.data.get("started_at", 0)) < WINDOW_S:
            if found.data.get("request") != request:
                raise Unprocessable(
                    "Idempotency-Key: already used with a different request; use a new key"
                )
            if found.data.get("response") is None:
                raise Conflict("a request with this Idempotency-Key is still in progress")
            return _minted(found.data["response"])
        version = await self._kv.write(
            path,
            {"started_at": now, "request": request, "response": None},
            cas=0 if found is None else found.version,
        )
        try:
            minted = await mint()
        except BaseException:
            await self._kv.delete(path, cas=version)
            raise
        response = {
            "lease": minted.lease.model_dump(mode="json"),
            "secret": minted.secret.get_secret_value(),
        }
        await self._kv.write(
            path, {"started_at": now, "request": request, "response": response}, cas=version
        )
        return minted

    async def purge(self) -> int:
        """Drop records older than the window; the scheduler calls this."""
        purged = 0
        now = self._clock()
        for name in await self._kv.list(FOLDER):
            found = await self._kv.read(FOLDER + name)
            if found is not None and now - float(found.data.get("started_at", 0)) >= WINDOW_S:
                await self._kv.delete(FOLDER + name, cas=found.version)
                purged += 1
        return purged


def _minted(response: dict[str, Any]) -> Minted:
    return Minted(Lease.model_validate(response["lease"]), SecretStr(str(response["secret"])))
