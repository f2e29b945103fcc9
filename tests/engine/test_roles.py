from __future__ import annotations

from typing import Any

import pytest

from keymint.engine.dynamic.role import Role
from keymint.engine.templates import parse_definition
from keymint.errors import BadRequest


def parse_role(name: str, body: dict[str, Any]) -> Role:
    return parse_definition(Role, name, body)


def _role(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subaccounts": [100002],
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": ["203.0.113.7"],
        "ttl": "1h",
        "max_ttl": "24h",
    }
    base.update(overrides)
    return base


def test_a_valid_role_is_normalised() -> None:
    role = parse_role(
        "spot-trader", _role(permissions={"ContractTrade": ["Position", "Order", "Order"]})
    )
    assert role.ttl == 3600 and role.max_ttl == 86400
    assert role.permissions == {"ContractTrade": ["Order", "Position"]}
    assert role.note_prefix == "keymint"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"permissions": {"Wallet": ["Withdraw"]}}, "permissions: Wallet: 'Withdraw'"),
        ({"permissions": {"Wallet": ["SubMemberTransferList"]}}, "transfer-out"),
        ({"permissions": {"BlockTrade": ["BlockTrade"]}}, "master-only group 'BlockTrade'"),
        ({"permissions": {"Spot": ["Order"]}}, "permissions: Spot: 'Order' not allowed"),
        ({"permissions": {}}, "at least one permission"),
        ({"ips": ["*"]}, "ips: '*' (no IP restriction) is never allowed"),
        ({"ips": ["10.0.0.0/8"]}, "is not an IPv4 address"),
        ({"ips": []}, "ips:"),
        ({"subaccounts": []}, "subaccounts:"),
        ({"ttl": "48h"}, "ttl (172800s) exceeds max_ttl (86400s)"),
        ({"ttl": "soon"}, "ttl: 'soon' is not a duration"),
        ({"ttl": 0}, "ttl: must be at least one second"),
        ({"readonly": True}, "readonly: unknown field"),
    ],
)
def test_bad_definitions_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_role("r", _role(**overrides))
    assert message in info.value.message
    assert info.value.status_code == 400


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "a" * 64, "sp ace"])
def test_bad_role_names(name: str) -> None:
    with pytest.raises(BadRequest, match="name:"):
        parse_role(name, _role())


def test_body_name_must_match_path() -> None:
    with pytest.raises(BadRequest, match="path says"):
        parse_role("a", _role(name="b"))
