"""The warm pool: keys made ahead, so a fleet starting together is not held to one per second."""

from __future__ import annotations

import concurrent.futures

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stackkit import ADMIN_RULES, MakeStack, Stack, roles_of, wait_for


def pooled(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


def warm_mints(stack: Stack) -> float:
    """Mints of role `fleet` answered from the pool, as keymint counts them."""
    for family in text_string_to_metric_families(stack.call("GET", "/metrics").text):
        for sample in family.samples:
            if sample.name == "keymint_mints_total" and sample.labels == {
                "role": "fleet",
                "outcome": "warm",
            }:
                return sample.value
    return 0.0


def test_fifty_bots_get_pooled_keys_at_once_and_the_pool_refills(make_stack: MakeStack) -> None:
    stack = make_stack(
        subaccounts=5, expiry_interval_s=0.3, roles=roles_of(fleet={"warm_pool": 50})
    )
    admin = stack.token(ADMIN_RULES)
    wait_for(lambda: len(stack.keys_at_bybit()) == 50, timeout_s=30)
    creates_before = len(stack.sim.requests("/v5/user/create-sub-api"))
    warm_before = warm_mints(stack)

    def one(_: int) -> httpx.Response:
        return stack.call("POST", "/v1/creds/fleet", admin)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    handed_out = {a.json()["data"]["api_key"] for a in answers}
    # Every bot got its own key, and every one was made ahead of time: from the pool as it was,
    # or as the leader refilled it during the burst. (How fast that is, is `make bench`'s.)
    assert len(handed_out) == 50 and handed_out <= pooled(stack)
    assert warm_mints(stack) - warm_before == 50

    # The pool refills in the background, within Bybit's create limit.
    wait_for(lambda: len(stack.keys_at_bybit()) == 100, timeout_s=30)
    assert len(stack.sim.requests("/v5/user/create-sub-api")) >= creates_before + 50
    assert not any(r["retCode"] == 10006 for r in stack.sim.requests())


def test_a_pooled_key_made_for_an_older_role_definition_is_not_handed_out(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(expiry_interval_s=0.3)
    admin = stack.token(ADMIN_RULES)
    body = {
        "subaccounts": [int(stack.master.subaccounts[0])],
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": ["127.0.0.1"],
        "warm_pool": 2,
    }
    assert stack.call("PUT", "/v1/roles/api-fleet", admin, json=body).status_code == 200
    wait_for(lambda: len(stack.keys_at_bybit()) == 2)
    old = pooled(stack)
    changed = {**body, "permissions": {"ContractTrade": ["Order"]}}
    assert stack.call("PUT", "/v1/roles/api-fleet", admin, json=changed).status_code == 200
    minted = stack.call("POST", "/v1/creds/api-fleet", admin).json()
    assert minted["data"]["api_key"] not in old
    assert minted["data"]["permissions"] == {"ContractTrade": ["Order"]}
    [key] = [k for k in stack.keys_at_bybit() if k["apiKey"] == minted["data"]["api_key"]]
    assert key["permissions"]["ContractTrade"] == ["Order"]
