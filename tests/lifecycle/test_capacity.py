"""Bybit's key limit per sub-account: pools, refusals with Retry-After, auto-provisioning,
several replicas at once, and bots that restart."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from keymint.devstack import start_keymint
from reconcile.support import create_by_hand
from stackkit import ADMIN_RULES, MakeStack, Stack, roles_of


def per_subaccount(stack: Stack) -> Counter[str]:
    return Counter(k["uid"] for k in stack.keys_at_bybit())


def mint(stack: Stack, token: str, role: str, **body: Any) -> httpx.Response:
    return stack.call("POST", f"/v1/creds/{role}", token, json=body)


def test_the_21st_key_on_a_full_subaccount_is_a_429(make_stack: MakeStack) -> None:
    stack = make_stack(roles=roles_of(solo={"pool": 1}))
    admin = stack.token(ADMIN_RULES)
    for _ in range(20):
        assert mint(stack, admin, "solo").status_code == 200
    refused = mint(stack, admin, "solo")
    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3601
    message = refused.json()["errors"][0]
    assert "role 'solo'" in message and stack.master.subaccounts[0] in message
    assert per_subaccount(stack) == {stack.master.subaccounts[0]: 20}
    usage = stack.call("GET", "/v1/subaccounts", admin).json()["data"]["key_info"]
    assert usage[stack.master.subaccounts[0]]["used"] == 20
    assert usage[stack.master.subaccounts[0]]["roles"] == ["solo"]


def test_a_pool_spreads_keys_over_its_subaccounts(make_stack: MakeStack) -> None:
    stack = make_stack(subaccounts=3, roles=roles_of(fleet={}))
    admin = stack.token(ADMIN_RULES)
    for _ in range(6):
        assert mint(stack, admin, "fleet").status_code == 200
    assert sorted(per_subaccount(stack).values()) == [2, 2, 2]


def test_a_large_pool_is_sampled_yet_filled_to_its_last_slot(make_stack: MakeStack) -> None:
    # Beyond capacity.SAMPLE sub-accounts a mint reads a random sample of the ledgers; once the
    # sample is all full it reads every one, so no slot of the pool is left unused.
    stack = make_stack(subaccounts=12, subaccount_key_limit=2, roles=roles_of(fleet={}))
    admin = stack.token(ADMIN_RULES)
    for _ in range(24):
        assert mint(stack, admin, "fleet").status_code == 200
    assert sorted(per_subaccount(stack).values()) == [2] * 12
    assert mint(stack, admin, "fleet").status_code == 429


def test_a_refusal_at_bybits_cap_moves_to_the_next_subaccount(make_stack: MakeStack) -> None:
    # Keys made by hand that keymint has not counted yet: Bybit's cap comes before keymint's.
    stack = make_stack(subaccount_key_limit=4, roles=roles_of(fleet={}), scheduler_enabled=False)
    stack.sim.configure(max_keys_per_subaccount=4)
    crowded, other = stack.master.subaccounts
    for n in range(2):
        create_by_hand(stack, crowded, f"ops-{n}")
    admin = stack.token(ADMIN_RULES)
    for _ in range(6):
        assert mint(stack, admin, "fleet").status_code == 200
    assert per_subaccount(stack) == {crowded: 4, other: 4}
    assert mint(stack, admin, "fleet").status_code == 429
    # The refusal was confirmed by listing, and the record learned the two foreign keys.
    usage = stack.call("GET", "/v1/subaccounts", admin).json()["data"]["key_info"]
    assert usage[crowded]["foreign_keys"] == 2 and usage[crowded]["used"] == 4


def test_one_generic_refusal_leaves_the_subaccount_capacity_unchanged(
    make_stack: MakeStack,
) -> None:
    # 10001 is also Bybit's generic parameter error: unconfirmed by a listing, it is a 502.
    stack = make_stack(roles=roles_of(solo={"pool": 1}), scheduler_enabled=False)
    [uid] = stack.master.subaccounts[:1]
    stack.sim.fault("/v5/user/create-sub-api", ret_code=10001, ret_msg="params error: ips")
    admin = stack.token(ADMIN_RULES)
    refused = mint(stack, admin, "solo")
    assert refused.status_code == 502
    assert "params error: ips" in refused.json()["errors"][0]
    usage = stack.call("GET", "/v1/subaccounts", admin).json()["data"]["key_info"][uid]
    assert (usage["used"], usage["foreign_keys"]) == (0, 0)
    for _ in range(20):
        assert mint(stack, admin, "solo").status_code == 200
    assert per_subaccount(stack) == {uid: 20}


def test_auto_provisioning_grows_a_full_pool_up_to_its_maximum(make_stack: MakeStack) -> None:
    stack = make_stack(
        subaccount_key_limit=2, roles=roles_of(grow={"pool": 1, "auto_provision_max": 2})
    )
    admin = stack.token(ADMIN_RULES)
    subs_before = {a["uid"] for a in stack.sim.state()["accounts"]}
    for _ in range(4):
        assert mint(stack, admin, "grow").status_code == 200
    new_subs = {a["uid"] for a in stack.sim.state()["accounts"]} - subs_before
    assert len(new_subs) == 1
    assert per_subaccount(stack) == {stack.master.subaccounts[0]: 2, new_subs.pop(): 2}
    assert mint(stack, admin, "grow").status_code == 429


def test_two_replicas_minting_at_once_never_pass_the_limit(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(roles=roles_of(solo={"pool": 1}))
    admin = stack.token(ADMIN_RULES)
    other = start_keymint(tmp_path, env={**stack.env, "KEYMINT_REPLICA_ID": "other"})
    try:
        urls = [stack.url, other.url] * 15

        def one(url: str) -> int:
            return httpx.post(
                f"{url}/v1/creds/solo", headers={"X-Vault-Token": admin}, timeout=60
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            statuses = Counter(pool.map(one, urls))
    finally:
        other.stop()
    assert statuses == {200: 20, 429: 10}
    assert per_subaccount(stack) == {stack.master.subaccounts[0]: 20}


def test_a_restarting_bot_replaces_its_own_lease(make_stack: MakeStack) -> None:
    stack = make_stack(roles=roles_of(capped={"max_leases_per_caller": 1}))
    bot = stack.token('path "keymint/creds/capped" { capabilities = ["update"] }')
    first = mint(stack, bot, "capped", instance_id="pod-a").json()
    second = stack.call(
        "POST", "/v1/creds/capped", bot, headers={"X-Keymint-Instance": "pod-a"}
    ).json()
    other_pod = mint(stack, bot, "capped", instance_id="pod-b").json()
    live = {k["apiKey"] for k in stack.keys_at_bybit()}
    assert live == {second["data"]["api_key"], other_pod["data"]["api_key"]}
    assert first["data"]["api_key"] not in live


def test_mints_beyond_the_queue_wait_get_a_429(make_stack: MakeStack) -> None:
    stack = make_stack(bybit_rate_limit_scale=1.0, mint_queue_wait_s=1.0, roles=roles_of(fleet={}))
    admin = stack.token(ADMIN_RULES)

    def one(_: int) -> httpx.Response:
        return mint(stack, admin, "fleet")

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(one, range(6)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses[200] >= 2 and statuses[429] >= 1, statuses
    assert statuses[200] + statuses[429] == 6
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert "per second" in refused.json()["errors"][0]
    assert len(stack.keys_at_bybit()) == statuses[200]
