"""Two replicas, one Vault: the jobs run once, and a killed leader's jobs move to the other."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


def static_only(subaccounts: list[int]) -> dict[str, Any]:
    return {
        "static_roles": {
            "mm": {
                "subaccount_uid": subaccounts[0],
                "permissions": {"Spot": ["SpotTrade"]},
                "ips": ["127.0.0.1"],
                "rotation_period": "2s",
                "overlap": "1s",
            }
        }
    }


def test_two_replicas_rotate_a_static_role_once_per_period(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(scheduler_enabled=False, roles=static_only)
    replica = {**stack.env, **REPLICA, "KEYMINT_STATIC_ROTATION_INTERVAL_S": "0.3"}
    processes = [
        start_keymint(tmp_path / name, env={**replica, "KEYMINT_REPLICA_ID": name})
        for name in ("a", "b")
    ]
    try:
        time.sleep(8)  # about four rotation periods
    finally:
        for process in processes:
            process.stop()
    found = stack.vault.secrets.kv.v2.read_secret_version(
        path=f"{stack.prefix}/static-creds/mm", raise_on_deleted_version=True
    )["data"]["data"]
    creates = [r for r in stack.sim.requests("/v5/user/create-sub-api") if r["retCode"] == 0]
    deletes = [r for r in stack.sim.requests("/v5/user/delete-sub-api") if r["retCode"] == 0]
    # One create per generation and one delete per replaced key: nothing done twice.
    assert found["generation"] >= 3
    assert len(creates) == found["generation"]
    assert len(deletes) == len(creates) - len(stack.keys_at_bybit())
    assert len(stack.keys_at_bybit()) <= 2
