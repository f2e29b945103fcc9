"""The races that split ownership over several records lost: every key's owner now changes in
one check-and-set on its sub-account's record. Each test races real requests against real
background work, over two `keymint serve` replicas where a second one matters."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keymint.devstack import ManagedProcess, start_keymint
from stackkit import ADMIN_RULES, MakeStack, Stack, roles_of, wait_for

DELETE = "/v5/user/delete-sub-api"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for replica in started:
        replica.stop()


def second_replica(stack: Stack, tmp_path: Path, **env: str) -> ManagedProcess:
    return start_keymint(
        tmp_path / "other", env={**stack.env, "KEYMINT_REPLICA_ID": "other", **env}
    )


def call(url: str, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, f"{url}{path}", headers={"X-Vault-Token": token}, timeout=60, **kwargs
    )


def live_keys(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


def leases(stack: Stack, token: str, role: str) -> list[str]:
    answer = stack.call("GET", "/v1/leases", token, params={"role": role, "limit": 1000})
    assert answer.status_code == 200, answer.text
    keys: list[str] = answer.json()["data"]["keys"]
    return keys


def pooled(stack: Stack, token: str) -> int:
    usage = stack.call("GET", "/v1/subaccounts", token).json()["data"]["key_info"]
    return sum(u["keymint_keys_by_kind"]["pool"] for u in usage.values())


def test_reconcile_passes_overlapping_warm_hand_outs_kill_no_handed_out_key(
    make_stack: MakeStack, tmp_path: Path, replicas: list[ManagedProcess]
) -> None:
    # No grace at all: reconciliation judges every key the moment it sees it.
    stack = make_stack(
        subaccounts=2,
        expiry_interval_s=0.2,
        reconcile_grace_s=0.0,
        roles=roles_of(fleet={"warm_pool": 24}),
    )
    admin = stack.token(ADMIN_RULES)
    wait_for(lambda: pooled(stack, admin) == 24, timeout_s=30)
    replicas.append(second_replica(stack, tmp_path))
    urls = [stack.url, replicas[0].url]
    done = threading.Event()

    def reconcile_until_done(url: str) -> int:
        passes = 0
        while not done.is_set():
            assert call(url, "POST", "/v1/reconcile", admin).status_code == 200
            passes += 1
        return passes

    def hand_out(n: int) -> httpx.Response:
        return call(urls[n % 2], "POST", "/v1/creds/fleet", admin)

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        sweeps = [pool.submit(reconcile_until_done, url) for url in urls * 2]
        minted = list(pool.map(hand_out, range(24)))
        done.set()
        passes = sum(s.result() for s in sweeps)
    assert passes >= 4
    assert [m.status_code for m in minted] == [200] * 24
    alive = live_keys(stack)
    dead = [m.json()["lease_id"] for m in minted if m.json()["data"]["api_key"] not in alive]
    assert dead == []
    for answer in minted:
        lease = stack.call("GET", f"/v1/leases/{answer.json()['lease_id']}", admin)
        assert lease.json()["data"]["state"] == "active"


def test_a_revocation_bybit_refused_finishes_once_bybit_recovers(make_stack: MakeStack) -> None:
    stack = make_stack(expiry_interval_s=0.2, revoke_backoff_s=0.2)
    admin = stack.token(ADMIN_RULES)
    minted = stack.call("POST", "/v1/creds/spot-trader", admin).json()
    stack.sim.fault(DELETE, http_status=503, count=None)
    pending = stack.call("DELETE", f"/v1/leases/{minted['lease_id']}", admin)
    assert pending.status_code == 202, pending.text
    assert minted["data"]["api_key"] in live_keys(stack)
    stack.sim.clear_faults()
    # The lease lives an hour; its deletion is retried at its next attempt, not at expiry.
    wait_for(lambda: minted["data"]["api_key"] not in live_keys(stack), timeout_s=10)
    wait_for(
        lambda: stack.call("GET", f"/v1/leases/{minted['lease_id']}", admin).status_code == 404
    )


def test_two_concurrent_revocations_make_one_bybit_delete(
    make_stack: MakeStack, tmp_path: Path, replicas: list[ManagedProcess]
) -> None:
    stack = make_stack()
    replicas.append(second_replica(stack, tmp_path))
    admin = stack.token(ADMIN_RULES)
    minted = stack.call("POST", "/v1/creds/spot-trader", admin).json()
    # A slow delete at Bybit keeps the first revocation in flight while the second arrives.
    stack.sim.fault(DELETE, latency_ms=500)
    path = f"/v1/leases/{minted['lease_id']}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda url: call(url, "DELETE", path, admin), [stack.url, replicas[0].url])
        )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert len(stack.sim.requests(DELETE)) == 1
    assert live_keys(stack) == set()


def test_revoke_prefix_racing_expiry_and_the_other_replica_leaves_nothing(
    make_stack: MakeStack, tmp_path: Path, replicas: list[ManagedProcess]
) -> None:
    stack = make_stack(
        subaccounts=2,
        expiry_interval_s=0.1,
        roles=roles_of(fleet={"ttl": 2, "max_ttl": 60}),
    )
    replicas.append(second_replica(stack, tmp_path))
    admin = stack.token(ADMIN_RULES)
    for _ in range(16):
        assert stack.call("POST", "/v1/creds/fleet", admin).status_code == 200
    # Slow deletes: the expiry job and both revoke-prefix calls overlap on the same leases.
    stack.sim.fault(DELETE, latency_ms=150, count=None)
    wait_for(lambda: stack.sim.requests(DELETE) != [], timeout_s=10)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda url: call(url, "POST", "/v1/leases/revoke-prefix/fleet", admin),
                [stack.url, replicas[0].url],
            )
        )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert leases(stack, admin, "fleet") == []
    assert live_keys(stack) == set()
    # Each key was deleted once, whoever got to it.
    assert len(stack.sim.requests(DELETE)) == 16


def test_the_per_caller_cap_holds_under_concurrent_mints_on_two_replicas(
    make_stack: MakeStack, tmp_path: Path, replicas: list[ManagedProcess]
) -> None:
    stack = make_stack(subaccounts=2, roles=roles_of(capped={"max_leases_per_caller": 2}))
    replicas.append(second_replica(stack, tmp_path))
    bot = stack.token('path "keymint/creds/capped" { capabilities = ["update"] }')
    urls = [stack.url, replicas[0].url]

    def mint(n: int) -> httpx.Response:
        return call(urls[n % 2], "POST", "/v1/creds/capped", bot, json={"instance_id": "pod-a"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        minted = list(pool.map(mint, range(12)))
    assert [m.status_code for m in minted] == [200] * 12
    admin = stack.token(ADMIN_RULES)
    active = [
        lid
        for lid in leases(stack, admin, "capped")
        if stack.call("GET", f"/v1/leases/{lid}", admin).json()["data"]["state"] == "active"
    ]
    assert len(active) <= 2
    wait_for(lambda: len(live_keys(stack)) <= 2)
    newest = {m.json()["data"]["api_key"] for m in minted}
    assert live_keys(stack) <= newest


def test_lowering_warm_pool_trims_it_and_deleting_the_role_drains_it(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(expiry_interval_s=0.2, roles=roles_of())
    admin = stack.token(ADMIN_RULES)
    role = {
        "subaccounts": [int(s) for s in stack.master.subaccounts],
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": ["127.0.0.1"],
        "warm_pool": 5,
    }
    assert stack.call("PUT", "/v1/roles/pooled", admin, json=role).status_code == 200
    wait_for(lambda: pooled(stack, admin) == 5 and len(live_keys(stack)) == 5)
    assert stack.call("PUT", "/v1/roles/pooled", admin, json={**role, "warm_pool": 2}).is_success
    wait_for(lambda: pooled(stack, admin) == 2 and len(live_keys(stack)) == 2)
    assert stack.call("DELETE", "/v1/roles/pooled", admin).status_code == 204
    wait_for(lambda: pooled(stack, admin) == 0 and live_keys(stack) == set())
