"""Bots under `keymint exec` as they run for real: a pybit bot trading spot through rotations,
and a fleet of forty starting at once against Bybit's create rate."""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from client.procs import bot_env, child_command, keymint, records
from client.support import api_keys_at_bybit, fast_roles
from stackkit import MakeStack, Stack, roles_of, wait_for

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


def answered_429(stack: Stack) -> float:
    families = text_string_to_metric_families(stack.http.get("/metrics").text)
    return sum(
        sample.value
        for family in families
        if family.name == "keymint_http_requests"
        for sample in family.samples
        if sample.name == "keymint_http_requests_total" and sample.labels["status"] == "429"
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_forty_bots_started_at_once_with_no_pool_all_start(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    # Bybit's real create rate (one key a second), and keymint queueing no longer than 5 s for
    # it: most of the fleet is answered 429 with a Retry-After and has to wait it out. Forty
    # keys need two sub-accounts at twenty keys each.
    stack = make_stack(
        roles=roles_of(fleet={}), subaccounts=3, bybit_rate_limit_scale=1.0, mint_queue_wait_s=5
    )
    command, out = child_command(tmp_path, "exit", "0")
    env = bot_env(stack, "fleet")
    refused_before = answered_429(stack)
    started = time.monotonic()
    fleet = [keymint("exec", "--role", "fleet", "--", *command, env=env) for _ in range(40)]
    for proc in fleet:
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
    took_s = time.monotonic() - started
    keys = {r["env"]["BYBIT_API_KEY"] for r in records(out, "start")}
    refused = answered_429(stack) - refused_before
    print(f"40 bots started in {took_s:.1f}s; keymint answered 429 {refused:.0f} times")
    assert len(keys) == 40
    # The test is of a fleet that met the limit, not one that slipped under it.
    assert refused > 0
    wait_for(lambda: not keys & api_keys_at_bybit(stack), 60)
