"""The limiter paces each (identity, endpoint) on its own and serves waiters in arrival order."""

import asyncio
import time

import pytest

from keymint.bybit import RateLimiter, ratelimit

CREATE = "/v5/user/create-sub-api"


async def test_concurrent_callers_are_served_in_order_within_the_rate() -> None:
    limiter = RateLimiter(scale=20)  # create-sub-api: 20 per window
    order: list[int] = []
    started = time.monotonic()

    async def caller(n: int) -> None:
        await limiter.acquire("uid", CREATE)
        order.append(n)

    tasks = []
    for n in range(45):
        tasks.append(asyncio.create_task(caller(n)))
        await asyncio.sleep(0)  # fix the arrival order
    await asyncio.gather(*tasks)

    assert order == list(range(45))
    # 20 now, 20 after one window, 5 after two windows (1.05 s each, with the margin).
    assert 2.0 <= time.monotonic() - started < 2.6


async def test_identities_and_endpoints_have_separate_budgets() -> None:
    limiter = RateLimiter(scale=1)
    started = time.monotonic()
    await limiter.acquire("a", CREATE)
    await limiter.acquire("b", CREATE)
    await limiter.acquire("a", "/v5/user/create-sub-member")
    await limiter.acquire("a", "/v5/market/time")  # not paced at all
    assert time.monotonic() - started < 0.1


async def test_no_remaining_requests_hold_callers_until_reset() -> None:
    limiter = RateLimiter(scale=100)
    limiter.observe("uid", CREATE, remaining=0, reset_in_s=0.3)
    started = time.monotonic()
    await limiter.acquire("uid", CREATE)
    assert 0.28 <= time.monotonic() - started < 0.5


async def test_a_far_reset_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_BLOCK_S", 0.2)
    limiter = RateLimiter(scale=100)
    limiter.observe("uid", CREATE, remaining=0, reset_in_s=3600)
    started = time.monotonic()
    await limiter.acquire("uid", CREATE)
    assert time.monotonic() - started < 0.4


def test_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(scale=0)
