"""Hostile and careless input (issue 11): every bad request is a 4xx naming the field, decided
before anything happens at Bybit or in Vault, and never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from keymint.engine.roles_file import RolesFileError, load_roles_file
from stackkit import ADMIN_RULES, BOT_IP, MakeStack, Stack

# Names that are not names: path tricks, control characters, upper case, too long.
BAD_NAMES = ["%2e", "%2e%2e", "a%07", "a%00b", "A", "-a", "x" * 64, "%C3%A9", "a%20b"]

NAME_ROUTES = [
    ("GET", "/v1/roles/{}"),
    ("PUT", "/v1/roles/{}"),
    ("DELETE", "/v1/roles/{}"),
    ("GET", "/v1/static-roles/{}"),
    ("PUT", "/v1/static-roles/{}"),
    ("DELETE", "/v1/static-roles/{}"),
    ("GET", "/v1/static-creds/{}"),
    ("POST", "/v1/rotate-role/{}"),
    ("POST", "/v1/creds/{}"),
    ("GET", "/v1/creds/{}"),
    ("POST", "/v1/leases/revoke-prefix/{}"),
]


def role_body(stack: Stack, **overrides: Any) -> dict[str, Any]:
    return {
        "subaccounts": [int(stack.master.subaccounts[0])],
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": [BOT_IP],
        **overrides,
    }


def static_body(stack: Stack, **overrides: Any) -> dict[str, Any]:
    return {
        "subaccount_uid": int(stack.master.subaccounts[0]),
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": [BOT_IP],
        **overrides,
    }


def errors_of(answer: Any) -> str:
    return " ".join(answer.json()["errors"])


@pytest.mark.parametrize(("method", "route"), NAME_ROUTES)
def test_a_name_outside_the_grammar_is_a_400_naming_it_after_the_token_is_checked(
    stack: Stack, method: str, route: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    field = "role" if route.startswith(("/v1/creds/", "/v1/leases/")) else "name"
    body = {} if method in ("PUT", "POST") else None
    for name in BAD_NAMES:
        path = route.format(name)
        # A stranger learns nothing, and nothing is read from Vault for it (a read of such a
        # path was what answered 500 before the caller was checked).
        anonymous = stack.call(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)
        forged = stack.call(method, path, "not-a-token", json=body)
        assert forged.status_code == 403, (path, forged.text)
        answer = stack.call(method, path, admin, json=body)
        assert answer.status_code in (400, 404), (path, answer.text)
        if answer.status_code == 400:
            assert errors_of(answer).startswith(f"{field}: "), (path, answer.text)


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "PUT"])
def test_a_malformed_lease_id_is_a_400_only_after_the_token_is_checked(
    stack: Stack, method: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    suffix = "/renew" if method in ("POST", "PUT") else ""
    for lease_id in ("keymint/creds/monitor/nope", "not-a-lease", "keymint/creds/%2e%2e/1-a"):
        path = f"/v1/leases/{lease_id}{suffix}"
        assert stack.call(method, path).status_code == 401
        answer = stack.call(method, path, admin)
        assert answer.status_code == 400, (path, answer.text)
        assert errors_of(answer).startswith("lease_id: not a keymint lease id")


def test_writing_a_role_reads_nothing_before_the_caller_is_checked(stack: Stack) -> None:
    # Only a caller holding exactly one of create and update needs the role's existence read.
    reader = stack.token('path "keymint/roles/*" { capabilities = ["read"] }')
    answer = stack.call("PUT", "/v1/roles/fresh", reader, json=role_body(stack))
    assert answer.status_code == 403
    assert "'create' or 'update'" in errors_of(answer)
    creator = stack.token('path "keymint/roles/*" { capabilities = ["create"] }')
    assert stack.call("PUT", "/v1/roles/fresh", creator, json=role_body(stack)).status_code == 200
    again = stack.call("PUT", "/v1/roles/fresh", creator, json=role_body(stack))
    assert again.status_code == 403 and "'update'" in errors_of(again)


def test_a_wrap_ttl_vault_would_refuse_is_refused_before_a_key_is_made(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    before = len(stack.keys_at_bybit())
    for headers, body in (
        ({"X-Vault-Wrap-TTL": "99999999h"}, None),
        ({"X-Vault-Wrap-TTL": "33d"}, None),
        ({}, {"wrap_ttl": 10**12}),
    ):
        answer = stack.call("POST", "/v1/creds/spot-trader", admin, headers=headers, json=body)
        assert answer.status_code == 400, answer.text
        assert errors_of(answer).startswith("wrap_ttl: ")
    assert len(stack.keys_at_bybit()) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ttl": 10**20, "max_ttl": 10**20}, "max_ttl: "),
        ({"max_ttl": "9999999999d"}, "max_ttl: "),
        ({"max_ttl": "33d"}, "max_ttl: 792h0m0s is over the system maximum of 768h0m0s"),
        ({"ttl": []}, "ttl: expected a duration"),
        ({"ttl": {}}, "ttl: expected a duration"),
        ({"ttl": None}, "ttl: expected a duration"),
        ({"permissions": {"Spot": 5}}, "permissions: Spot: expected a list of permission names"),
        ({"permissions": {"Spot": None}}, "permissions: Spot: expected a list"),
        ({"permissions": {"Spot": [["x"]]}}, "permissions: Spot: expected a list"),
        ({"permissions": {"Spot": [1, "SpotTrade"]}}, "permissions: Spot: expected a list"),
        ({"permissions": {"Spot": {"SpotTrade": True}}}, "permissions: Spot: expected a list"),
        ({"ips": ["0.0.0.0"]}, "ips: '0.0.0.0' is not a host address"),
        ({"ips": ["255.255.255.255"]}, "ips: '255.255.255.255' is not a host address"),
        ({"ips": ["224.0.0.1"]}, "ips: '224.0.0.1' is not a host address"),
        ({"ips": ["240.0.0.1"]}, "ips: '240.0.0.1' is not a host address"),
    ],
)
def test_junk_in_a_role_is_a_400_naming_the_field(
    stack: Stack, overrides: dict[str, Any], message: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call("PUT", "/v1/roles/junk", admin, json=role_body(stack, **overrides))
    assert answer.status_code == 400, answer.text
    assert message in errors_of(answer)
    assert stack.call("GET", "/v1/roles/junk", admin).status_code == 404


def test_infinity_is_not_a_duration(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    # Python's JSON reader takes Infinity and NaN; what a client sends is not to be trusted.
    for number in ("Infinity", "-Infinity", "NaN", "1e999"):
        text = json.dumps(role_body(stack)).replace("{", f'{{"ttl": {number}, ', 1)
        answer = stack.call("PUT", "/v1/roles/inf", admin, content=text)
        assert answer.status_code == 400, (number, answer.text)
        assert "ttl: " in errors_of(answer)
        minted = stack.call("POST", "/v1/creds/spot-trader", admin, content=f'{{"ttl": {number}}}')
        assert minted.status_code == 400, (number, minted.text)
        assert errors_of(minted).startswith("ttl")


def test_the_system_maximum_ttl_is_configurable(make_stack: MakeStack) -> None:
    first = make_stack(roles=lambda subaccounts: {"roles": {}})
    admin = first.token(ADMIN_RULES)
    daily = role_body(first, ttl="2h", max_ttl="24h")
    assert first.call("PUT", "/v1/roles/daily", admin, json=daily).status_code == 200
    stack = make_stack(same_as=first, max_lease_ttl_s=3600)
    answer = stack.call("PUT", "/v1/roles/long", admin, json=role_body(stack, max_ttl="2h"))
    assert answer.status_code == 400
    assert "max_ttl: 2h0m0s is over the system maximum of 1h0m0s" in errors_of(answer)
    ok = stack.call("PUT", "/v1/roles/short", admin, json=role_body(stack, ttl="10m", max_ttl="1h"))
    assert ok.status_code == 200, ok.text
    # A role stored before the limit was lowered keeps working, its leases within the limit.
    minted = stack.call("POST", "/v1/creds/daily", admin)
    assert minted.status_code == 200, minted.text
    assert minted.json()["lease_duration"] == 3600
    lease = stack.call("GET", f"/v1/leases/{minted.json()['lease_id']}", admin).json()["data"]
    assert lease["max_expire_time"] == lease["expire_time"]
    too_long = stack.call("POST", "/v1/creds/daily", admin, json={"ttl": "2h"})
    assert too_long.status_code == 400 and errors_of(too_long).startswith("ttl: ")


def test_a_roles_file_over_the_system_maximum_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "roles": {
                    "long": {
                        "subaccounts": [1],
                        "permissions": {"Spot": ["SpotTrade"]},
                        "ips": [BOT_IP],
                        "max_ttl": "2h",
                    }
                }
            }
        )
    )
    with pytest.raises(RolesFileError, match="max_ttl: 2h0m0s is over the system maximum"):
        load_roles_file(path, max_lease_ttl_s=3600)


@pytest.mark.parametrize("period", ["90d", "1000d", "60d"])
def test_a_static_role_longer_than_60_days_is_refused_with_the_default_overlap(
    stack: Stack, period: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call(
        "PUT", "/v1/static-roles/long", admin, json=static_body(stack, rotation_period=period)
    )
    assert answer.status_code == 400, answer.text
    assert "rotation_period: rotation_period + overlap is" in errors_of(answer)


def test_sub_accounts_that_are_not_the_masters_are_refused_when_the_role_is_written(
    stack: Stack,
) -> None:
    admin = stack.token(ADMIN_RULES)
    stranger = 987654321
    answer = stack.call(
        "PUT",
        "/v1/roles/typo",
        admin,
        json=role_body(stack, subaccounts=[int(stack.master.subaccounts[0]), stranger]),
    )
    assert answer.status_code == 400, answer.text
    assert (
        errors_of(answer)
        == f"subaccounts: {stranger} not a sub-account of the master key's account"
    )
    assert stack.call("GET", "/v1/roles/typo", admin).status_code == 404
    static = stack.call(
        "PUT", "/v1/static-roles/typo", admin, json=static_body(stack, subaccount_uid=stranger)
    )
    assert static.status_code == 400, static.text
    assert errors_of(static).startswith("subaccount_uid: ")
    assert stack.call("GET", "/v1/static-roles/typo", admin).status_code == 404


def test_a_json_body_is_read_whatever_its_content_type(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    body = json.dumps({"ttl": "10m"})
    for headers in ({}, {"Content-Type": "application/x-www-form-urlencoded"}):
        minted = stack.http.post(
            "/v1/creds/spot-trader",
            content=body,
            headers={"X-Vault-Token": admin, **headers},
        )
        assert minted.status_code == 200, minted.text
        assert minted.json()["lease_duration"] == 600


def test_a_wrong_method_is_a_405_listing_every_method_of_the_path(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    lease = f"keymint/creds/monitor/{stack.master.subaccounts[0]}-{'a' * 24}"
    for method, path, allowed in (
        ("POST", "/v1/roles/x", "DELETE, GET, PUT"),
        ("PATCH", "/v1/creds/spot-trader", "GET, POST, PUT"),
        ("GET", "/v1/sys/leases/lookup", "POST, PUT"),
        ("GET", f"/v1/sys/leases/revoke/{lease}", "POST, PUT"),
        ("GET", f"/v1/leases/{lease}/renew", "POST, PUT"),
        ("GET", "/v1/leases/revoke-prefix/x", "POST, PUT"),
        ("POST", "/v1/config", "GET, PUT"),
    ):
        answer = stack.call(method, path, admin)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["allow"] == allowed
