"""Expiry: a lease's end deletes its key at Bybit; while Bybit fails, the lease waits."""

from __future__ import annotations

from stackkit import ADMIN_RULES, MakeStack, Stack, wait_for

FAST = {"expiry_interval_s": 0.3, "leader_lease_s": 1.5, "revoke_backoff_s": 0.2}


def _leases(stack: Stack, token: str) -> dict[str, dict[str, object]]:
    data = stack.call("GET", "/v1/leases", token).json()["data"]
    info: dict[str, dict[str, object]] = data["key_info"]
    return info


def test_expired_leases_lose_their_keys(make_stack: MakeStack) -> None:
    stack = make_stack(**FAST)
    admin = stack.token(ADMIN_RULES)
    short = stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 1}).json()
    long = stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": "1h"}).json()
    wait_for(lambda: len(stack.keys_at_bybit()) == 1)
    assert [k["apiKey"] for k in stack.keys_at_bybit()] == [long["data"]["api_key"]]
    assert list(_leases(stack, admin)) == [long["lease_id"]]
    assert short["lease_id"] not in _leases(stack, admin)


def test_bybit_outage_leaves_a_backlog_that_drains(make_stack: MakeStack) -> None:
    stack = make_stack(**FAST)
    admin = stack.token(ADMIN_RULES)
    stack.sim.fault("/v5/user/delete-sub-api", http_status=503, count=None)
    minted = [
        stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 1}).json() for _ in range(3)
    ]
    wait_for(
        lambda: all(
            int(str(info["revoke_attempts"])) >= 2 for info in _leases(stack, admin).values()
        )
    )
    # Expired, but the keys still work at Bybit: no lease may be dropped.
    leases = _leases(stack, admin)
    assert sorted(leases) == sorted(m["lease_id"] for m in minted)
    assert {info["state"] for info in leases.values()} == {"revoking"}
    assert len(stack.keys_at_bybit()) == 3

    stack.sim.clear_faults()
    wait_for(lambda: not stack.keys_at_bybit() and not _leases(stack, admin))


def test_a_lease_becomes_irrevocable_and_is_still_retried(make_stack: MakeStack) -> None:
    stack = make_stack(**FAST, revoke_max_attempts=2, revoke_irrevocable_retry_s=1.5)
    admin = stack.token(ADMIN_RULES)
    stack.sim.fault("/v5/user/delete-sub-api", ret_code=10016, count=None)
    lease_id = stack.call("POST", "/v1/creds/monitor", admin, json={"ttl": 1}).json()["lease_id"]
    wait_for(lambda: _leases(stack, admin)[lease_id]["state"] == "irrevocable")
    assert len(stack.keys_at_bybit()) == 1
    stack.sim.clear_faults()
    wait_for(lambda: not _leases(stack, admin) and not stack.keys_at_bybit())
