"""The dashboard against a real Prometheus: scrape keymint, drive real traffic (mints, renewals,
revocations, expiry, a rotation, an orphan, drift, Bybit errors), then run every panel's query
through Prometheus' HTTP API and require data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pybit.unified_trading import HTTP

from keymint.devstack import ManagedProcess, start_prometheus
from observability.dashboard import panel_queries
from stackkit import ADMIN_RULES, BOT_IP, MakeStack, Stack, wait_for

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "observability" / "dashboard.json"


def roles(subaccounts: list[int]) -> dict[str, Any]:
    return {
        "roles": {
            "spot-trader": {
                "subaccounts": subaccounts,
                "permissions": {"Spot": ["SpotTrade"]},
                "ips": [BOT_IP],
                "ttl": "1h",
                "max_ttl": "2h",
                "warm_pool": 2,
            }
        },
        "static_roles": {
            "market-maker": {
                "subaccount_uid": subaccounts[1],
                "permissions": {"ContractTrade": ["Order", "Position"]},
                "ips": [BOT_IP],
                "rotation_period": "1h",
                "overlap": "1s",
            }
        },
    }


@pytest.fixture
def prometheus(tmp_path: Path, stack_under_watch: Stack) -> Iterator[ManagedProcess]:
    target = stack_under_watch.url.removeprefix("http://")
    mp = start_prometheus(tmp_path / "prometheus", targets=[target])
    yield mp
    mp.stop()


@pytest.fixture
def stack_under_watch(make_stack: MakeStack) -> Stack:
    return make_stack(
        roles=roles,
        expiry_interval_s=0.3,
        static_rotation_interval_s=0.5,
        master_key_check_s=1.0,
        reconcile_grace_s=0.0,
    )


def drive(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    # An unbound master key, so Bybit reports an expiry for the master-key panel.
    unbound = stack.sim.add_master_key(stack.master.master_uid, master_ips=["*"])
    stack.write_master(unbound.api_key, unbound.api_secret)
    leases = [stack.call("POST", "/v1/creds/spot-trader", admin).json() for _ in range(4)]
    stack.call("POST", f"/v1/leases/{leases[0]['lease_id']}/renew", admin)
    stack.call("DELETE", f"/v1/leases/{leases[1]['lease_id']}", admin)
    stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 1})
    stack.call("POST", "/v1/creds/spot-trader", "s.intruder-token-000")
    # The leader rotates this static role every 0.5 s too: a 409 is its rotation meeting ours
    # (the API's documented answer), so ask again until ours is the one that lands.
    answers: list[int] = []

    def rotated_by_us() -> bool:
        answers.append(stack.call("POST", "/v1/rotate-role/market-maker", admin).status_code)
        return answers[-1] == 200

    wait_for(rotated_by_us, timeout_s=30)
    assert set(answers) <= {200, 409}, answers
    # Drift: someone edits a minted key by hand at Bybit.
    session = HTTP(api_key=unbound.api_key, api_secret=unbound.api_secret, max_retries=1)
    session.endpoint = stack.sim.url
    session.modify_sub_api_key(
        apikey=leases[2]["data"]["api_key"],
        readOnly=1,
        ips=BOT_IP,
        permissions={"Spot": ["SpotTrade"]},
    )
    # An orphan: a key with keymint's note that no lease, pool or static role owns (what a
    # crash between Bybit's answer and the lease write leaves behind).
    session.create_sub_api_key(
        subuid=int(stack.master.subaccounts[0]),
        note="keymint:" + "Orphan" * 4,
        readOnly=0,
        ips=BOT_IP,
        permissions={"Spot": ["SpotTrade"]},
    )
    # A Bybit failure on the way: the reconcile's first listing gets a 503 and is retried.
    stack.sim.fault("/v5/user/sub-apikeys", http_status=503, count=1)
    report = stack.call("POST", "/v1/reconcile", admin).json()["data"]
    assert report["totals"]["orphans"] >= 1 and report["totals"]["drift"] >= 1


def query(prometheus: ManagedProcess, expr: str) -> list[Any]:
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


def test_every_dashboard_panel_returns_data(
    stack_under_watch: Stack, prometheus: ManagedProcess
) -> None:
    drive(stack_under_watch)
    # Rates need two scrapes after the traffic (Prometheus' first scrape comes a few seconds
    # after it starts), gauges a refresh.
    wait_for(lambda: bool(query(prometheus, 'count_over_time(up{job="keymint"}[1m]) > 4')))
    queries = panel_queries(DASHBOARD)
    assert len(queries) >= 15
    wait_for(lambda: bool(query(prometheus, "keymint_master_key_expiry_timestamp_seconds")))
    # Polled with a deadline: rates need two scrapes after the traffic, gauges a sweep.
    deadline = time.monotonic() + 15
    while (empty := [(t, e) for t, e in queries if not query(prometheus, e)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert empty == [], empty
