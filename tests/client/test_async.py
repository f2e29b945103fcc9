"""The asyncio client: the same lease life, driven by a task."""

from __future__ import annotations

import asyncio
import time

from client.support import api_keys_at_bybit, bot_rules, fast_roles
from keymint.client import AsyncKeymint, Credentials, StaticToken
from stackkit import MakeStack


async def until(condition: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_an_async_lease_renews_rotates_and_is_revoked(make_stack: MakeStack) -> None:
    stack = make_stack(roles=fast_roles())
    token = StaticToken(await asyncio.to_thread(stack.token, bot_rules("fast")))
    rotated: list[Credentials] = []
    async with AsyncKeymint(stack.url, token=token) as keymint:
        async with await keymint.mint("fast", on_rotate=rotated.append, grace_s=1.0) as lease:
            old = lease.credentials
            await until(lambda: len(rotated) == 1)
            keys = await asyncio.to_thread(api_keys_at_bybit, stack)
            assert lease.credentials.api_key in keys
            await until(lambda: old.api_key not in api_keys_at_bybit(stack), 10)
        new = rotated[0]
        assert new.api_key not in await asyncio.to_thread(api_keys_at_bybit, stack)
