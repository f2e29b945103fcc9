"""Bots under `keymint exec` as they run for real: a pybit bot trading spot through rotations,
and a fleet of forty starting at once against Bybit's create rate."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from client.procs import bot_env, keymint, records
from client.support import api_keys_at_bybit, fast_roles
from stackkit import MakeStack, wait_for

SPOT_BOT = str(Path(__file__).with_name("bots") / "spot_bot.py")


@pytest.mark.parametrize("on_rotate", ["restart", "signal:HUP"])
def test_a_pybit_bot_trades_spot_through_two_rotations_with_no_failed_order(
    make_stack: MakeStack, tmp_path: Path, on_rotate: str
) -> None:
    stack = make_stack(roles=fast_roles())
    out = tmp_path / "orders.jsonl"
    env = bot_env(stack, "fast", BOT_BYBIT_ENDPOINT=stack.sim.url)
    proc = keymint(
        "exec", "--role", "fast", "--grace", "1", "--on-rotate", on_rotate,
        "--creds-file", str(tmp_path / "creds.json"),
        "--", sys.executable, SPOT_BOT, str(out), env=env,
    )  # fmt: skip

    def orders_per_key() -> dict[str, int]:
        return Counter(r["key"] for r in records(out))

    def traded_through_two_rotations() -> bool:
        # Three keys, each with orders placed on it: the bot trades on, not just touches a key.
        counts = orders_per_key().values()
        return len(counts) >= 3 and min(counts) >= 3

    wait_for(traded_through_two_rotations, 45)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    orders = records(out)
    failed = [r for r in orders if r["retCode"] != 0]
    assert not failed, failed
    keys = set(orders_per_key())
    pids = {r["pid"] for r in orders}
    assert len(pids) == (len(keys) if on_rotate == "restart" else 1)
    wait_for(lambda: not set(keys) & api_keys_at_bybit(stack), 15)
