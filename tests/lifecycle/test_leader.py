"""Two replicas, one Vault: the jobs run once, and a killed leader's jobs move to the other."""

from __future__ import annotations

import time
from pathlib import Path

from keymint.devstack import start_keymint
from stackkit import ADMIN_RULES, MakeStack, Stack, wait_for

REPLICA = {
    "KEYMINT_SCHEDULER_ENABLED": "true",
    "KEYMINT_EXPIRY_INTERVAL_S": "0.3",
    "KEYMINT_LEADER_LEASE_S": "2",
}


def _holder(stack: Stack) -> str | None:
    try:
        found = stack.vault.secrets.kv.v2.read_secret_version(
            path=f"{stack.prefix}/leader", raise_on_deleted_version=True
        )
    except Exception:
        return None
    data = found["data"]["data"]
    return str(data["holder"]) if data.get("expires_at", 0) > time.time() else None


def _deletes(stack: Stack) -> int:
    return len([r for r in stack.sim.requests("/v5/user/delete-sub-api") if r["retCode"] == 0])


def test_jobs_run_once_and_fail_over(make_stack: MakeStack, tmp_path: Path) -> None:
    # This replica serves the API only; the two below contest the lock.
    stack = make_stack(scheduler_enabled=False)
    admin = stack.token(ADMIN_RULES)
    first = start_keymint(tmp_path / "a", env={**stack.env, **REPLICA, "KEYMINT_REPLICA_ID": "a"})
    try:
        wait_for(lambda: _holder(stack) == "a")
        second = start_keymint(
            tmp_path / "b", env={**stack.env, **REPLICA, "KEYMINT_REPLICA_ID": "b"}
        )
        try:
            for _ in range(5):
                minted = stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 1})
                assert minted.status_code == 200, minted.text
            wait_for(lambda: not stack.keys_at_bybit())
            time.sleep(1.0)  # a second expiry of the same lease would show up by now
            assert _deletes(stack) == 5

            first.proc.kill()  # no graceful hand-over: the lock must expire
            wait_for(lambda: _holder(stack) == "b", timeout_s=10)
            for _ in range(3):
                stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 1})
            wait_for(lambda: not stack.keys_at_bybit())
            time.sleep(1.0)
            assert _deletes(stack) == 8
        finally:
            second.stop()
    finally:
        first.stop()
    assert "leader_elected" in second.log_path.read_text()
