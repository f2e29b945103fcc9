"""Roles through the API: validated, stored in Vault, file roles read-only."""

from __future__ import annotations

import pytest

from stackkit import ADMIN_RULES, BOT_IP, Stack


def _role(stack: Stack, **overrides: object) -> dict[str, object]:
    return {
        "subaccounts": [int(stack.master.subaccounts[0])],
        "permissions": {"ContractTrade": ["Order", "Position"]},
        "ips": [BOT_IP],
        "ttl": "15m",
        "max_ttl": "1h",
        **overrides,
    }


def test_role_crud_and_listing(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    created = stack.call("PUT", "/v1/roles/perp-bot", admin, json=_role(stack))
    assert created.status_code == 200, created.text
    assert created.json()["data"]["ttl"] == 900
    listed = stack.call("GET", "/v1/roles", admin).json()["data"]
    assert listed["keys"] == ["monitor", "perp-bot", "spot-trader"]
    assert listed["key_info"]["perp-bot"] == {"source": "api"}
    assert listed["key_info"]["monitor"] == {"source": "file"}
    read = stack.call("GET", "/v1/roles/perp-bot", admin).json()["data"]
    assert read["permissions"] == {"ContractTrade": ["Order", "Position"]}

    minted = stack.call("POST", "/v1/creds/perp-bot", admin)
    assert minted.status_code == 200
    refused = stack.call("DELETE", "/v1/roles/perp-bot", admin)
    assert refused.status_code == 409
    assert "?revoke=true" in refused.json()["errors"][0]
    assert stack.call("DELETE", "/v1/roles/perp-bot?revoke=true", admin).status_code == 204
    assert stack.keys_at_bybit() == []
    assert stack.call("GET", "/v1/roles/perp-bot", admin).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"permissions": {"Wallet": ["Withdraw"]}}, "withdrawal or transfer-out right"),
        ({"ips": ["*"]}, "'*' (no IP restriction) is never allowed"),
        ({"ttl": "2h"}, "exceeds max_ttl"),
        ({"subaccounts": []}, "subaccounts:"),
    ],
)
def test_bad_roles_are_refused_with_the_field(
    stack: Stack, overrides: dict[str, object], message: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call("PUT", "/v1/roles/bad", admin, json=_role(stack, **overrides))
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]
    assert stack.call("GET", "/v1/roles/bad", admin).status_code == 404


def test_file_roles_are_read_only(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    for method in ("PUT", "DELETE"):
        answer = stack.call(method, "/v1/roles/monitor", admin, json=_role(stack))
        assert answer.status_code == 400
        assert "roles file" in answer.json()["errors"][0]


def test_create_and_update_are_distinct_capabilities(stack: Stack) -> None:
    creator = stack.token('path "keymint/roles/*" { capabilities = ["create"] }')
    assert stack.call("PUT", "/v1/roles/new-one", creator, json=_role(stack)).status_code == 200
    again = stack.call("PUT", "/v1/roles/new-one", creator, json=_role(stack, ttl="30m"))
    assert again.status_code == 403
