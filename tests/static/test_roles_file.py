"""The roles file carries static roles beside dynamic ones, validated the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from keymint.engine.dynamic.role import DEFAULT_MAX_LEASE_TTL_S
from keymint.engine.roles_file import RolesFileError, load_roles_file

STATIC = {"subaccount_uid": 100002, "permissions": {"Spot": ["SpotTrade"]}, "ips": ["10.0.0.7"]}


def _file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_static_roles_load_with_defaults(tmp_path: Path) -> None:
    loaded = load_roles_file(
        _file(tmp_path, {"static_roles": {"mm": STATIC}}), max_lease_ttl_s=DEFAULT_MAX_LEASE_TTL_S
    )
    assert loaded.roles == {}
    mm = loaded.static_roles["mm"]
    assert (mm.rotation_period, mm.overlap, mm.note_prefix) == (7 * 86400, 3600, "keymint")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"static_roles": {"mm": {**STATIC, "overlap": "8d"}}}, "static role 'mm': overlap:"),
        ({"static_roles": {"mm": {**STATIC, "ips": ["*"]}}}, "static role 'mm': ips:"),
        ({"static_roles": ["mm"]}, "expected 'static_roles' to be a mapping"),
        ({"static-roles": {}}, "unknown top-level keys ['static-roles']"),
    ],
)
def test_a_bad_static_role_stops_start_up(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(RolesFileError) as info:
        load_roles_file(_file(tmp_path, document), max_lease_ttl_s=DEFAULT_MAX_LEASE_TTL_S)
    assert message in str(info.value)
