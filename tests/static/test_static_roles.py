"""Static roles through the API: validated, stored in Vault, file ones read-only, a key from the
moment a role is created, and their keys gone when they are deleted."""

from __future__ import annotations

from typing import Any

import pytest

from stackkit import ADMIN_RULES, BOT_IP, MakeStack, Stack, example_roles

from .conftest import Replica, api_keys_at_bybit, creds_record, ledger_keys, static_role


def test_static_role_crud(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    created = stack.call("PUT", "/v1/static-roles/mm", admin, json=static_role(stack))
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert data["rotation_period"] == 3600 and data["overlap"] == 1 and data["source"] == "api"
    assert data["rotation"]["generation"] == 1 and created.json()["warnings"] is None
    [key] = stack.keys_at_bybit()
    record = creds_record(stack, "mm")
    assert key["apiKey"] == data["rotation"]["api_key"] == record["current"]["api_key"]
    assert key["note"] == f"keymint:{record['current']['key']}" and key["ips"] == [BOT_IP]
    assert ledger_keys(stack) == {record["current"]["key"]}

    listed = stack.call("GET", "/v1/static-roles", admin).json()["data"]
    assert listed == {"keys": ["mm"], "key_info": {"mm": {"source": "api"}}}
    read = stack.call("GET", "/v1/static-roles/mm", admin).json()["data"]
    assert read["permissions"] == {"Spot": ["SpotTrade"]} and "api_secret" not in str(read)

    # Writing the same definition keeps the key; changing what the key is made of replaces it.
    same = stack.call("PUT", "/v1/static-roles/mm", admin, json=static_role(stack))
    assert same.json()["data"]["rotation"]["generation"] == 1
    wider = static_role(stack, permissions={"Spot": ["SpotTrade"], "Exchange": ["ExchangeHistory"]})
    changed = stack.call("PUT", "/v1/static-roles/mm", admin, json=wider).json()["data"]
    assert changed["rotation"]["generation"] == 2
    assert changed["rotation"]["previous_api_key"] == key["apiKey"]
    assert len(stack.keys_at_bybit()) == 2

    assert stack.call("DELETE", "/v1/static-roles/mm", admin).status_code == 204
    assert stack.keys_at_bybit() == []
    assert ledger_keys(stack) == set()
    assert stack.call("GET", "/v1/static-roles/mm", admin).status_code == 404
    assert stack.call("GET", "/v1/static-creds/mm", admin).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"permissions": {"Wallet": ["Withdraw"]}}, "withdrawal or transfer-out right"),
        ({"ips": ["*"]}, "ips: '*' (no IP restriction) is never allowed"),
        (
            {"rotation_period": "50d", "overlap": "11d"},
            "rotation_period: rotation_period + overlap is 61 days, over the 60-day limit",
        ),
        ({"rotation_period": "1h", "overlap": "1h"}, "overlap: must be shorter than"),
        ({"rotation_period": "soon"}, "rotation_period: 'soon' is not a duration"),
        ({"subaccount_uid": 0}, "subaccount_uid:"),
        ({"ttl": "1h"}, "ttl: unknown field"),
    ],
)
def test_bad_static_roles_are_refused_with_the_field(
    stack: Stack, overrides: dict[str, object], message: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call("PUT", "/v1/static-roles/bad", admin, json=static_role(stack, **overrides))
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["errors"][0]
    assert stack.call("GET", "/v1/static-roles/bad", admin).status_code == 404
    assert stack.keys_at_bybit() == []


def _with_static(subaccounts: list[int]) -> dict[str, Any]:
    static = {
        "subaccount_uid": subaccounts[0],
        "permissions": {"ContractTrade": ["Order"]},
        "ips": [BOT_IP],
        "rotation_period": "30d",
    }
    return {**example_roles(subaccounts), "static_roles": {"from-file": static}}


async def test_file_static_roles_are_read_only_and_get_their_key_from_the_scheduler(
    make_stack: MakeStack, replica: Replica
) -> None:
    stack = make_stack(roles=_with_static)
    admin = stack.token(ADMIN_RULES)
    listed = stack.call("GET", "/v1/static-roles", admin).json()["data"]
    assert listed["key_info"] == {"from-file": {"source": "file"}}
    for method in ("PUT", "DELETE"):
        refused = stack.call(method, "/v1/static-roles/from-file", admin, json=static_role(stack))
        assert refused.status_code == 400
        assert "defined in the roles file" in refused.json()["errors"][0]
    assert stack.call("GET", "/v1/static-creds/from-file", admin).status_code == 503

    [outcome] = await (await replica(stack)).rotator.rotate_due()
    assert outcome.outcome == "rotated" and outcome.generation == 1
    creds = stack.call("GET", "/v1/static-creds/from-file", admin).json()["data"]
    assert creds["api_key"] == outcome.api_key and creds["rotation_period"] == 30 * 86400
    assert api_keys_at_bybit(stack) == {outcome.api_key}


async def test_a_refused_first_key_leaves_the_role_pending(stack: Stack, replica: Replica) -> None:
    admin = stack.token(ADMIN_RULES)
    stack.sim.fault("/v5/user/create-sub-api", ret_code=10005, count=1)
    created = stack.call("PUT", "/v1/static-roles/mm", admin, json=static_role(stack))
    assert created.status_code == 200, created.text
    [warning] = created.json()["warnings"]
    assert "is saved but its first key is pending" in warning and "10005" in warning
    assert created.json()["data"]["rotation"]["failures"] == 1
    assert creds_record(stack, "mm")["current"] is None
    pending = stack.call("GET", "/v1/static-creds/mm", admin)
    assert pending.status_code == 503 and "has no key yet" in pending.json()["errors"][0]
    assert int(pending.headers["retry-after"]) <= 30
    assert stack.keys_at_bybit() == [] and ledger_keys(stack) == set()

    retry_at = creds_record(stack, "mm")["next_rotation_at"]
    [outcome] = await (await replica(stack)).rotator.rotate_due(now=retry_at)
    assert outcome.outcome == "rotated"
    assert stack.call("GET", "/v1/static-creds/mm", admin).status_code == 200


def test_static_paths_are_authorised_by_policy(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    assert stack.call("PUT", "/v1/static-roles/mm", admin, json=static_role(stack)).is_success
    reader = stack.token('path "keymint/static-creds/mm" { capabilities = ["read"] }')
    creds = stack.call("GET", "/v1/static-creds/mm", reader)
    assert creds.status_code == 200 and creds.headers["cache-control"] == "no-store"
    assert creds.json()["data"]["ttl"] == pytest.approx(3600, abs=5)
    # As Vault's static-creds: the time left is the answer's lease_duration too.
    assert creds.json()["lease_duration"] == creds.json()["data"]["ttl"]
    assert stack.call("POST", "/v1/rotate-role/mm", reader).status_code == 403
    assert stack.call("GET", "/v1/static-roles/mm", reader).status_code == 403
    assert stack.call("GET", "/v1/static-creds/mm").status_code == 401
