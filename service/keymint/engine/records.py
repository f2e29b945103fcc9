"""Read-modify-write of one KV record with check-and-set, for records outside the sub-account
records (definitions, static-creds, caller caps, idempotency)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from keymint.engine.ports import Versioned
from keymint.errors import Conflict

T = TypeVar("T")


async def with_cas_retry(attempt: Callable[[], Awaitable[T]], *, attempts: int = 8, what: str) -> T:
    """Run a read-modify-write until its check-and-set wins; jitter spreads racing replicas."""
    for n in range(attempts):
        try:
            return await attempt()
        except Conflict:
            await asyncio.sleep(random.uniform(0, 0.02 * (2**n)))
    raise Conflict(f"{what}: too many concurrent changes, try again")


def data_of(found: Versioned | None) -> tuple[dict[str, Any], int]:
    """A record's data and version; an absent record is empty at version 0 (create-only)."""
    if found is None:
        return {}, 0
    return dict(found.data), found.version
