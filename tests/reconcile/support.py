"""What reconciliation tests do besides calling keymint: act at Bybit as the master (as an
operator would by hand), plant write-ahead slots in Vault, and look at both sides."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import hvac
from pybit.unified_trading import HTTP

from sim.simtools import pybit
from stackkit import ADMIN_RULES, MakeStack, Stack

SPOT = {"Spot": ["SpotTrade"]}
RECORD = "keys/{uid}"


def quiet_stack(make_stack: MakeStack, **overrides: Any) -> Stack:
    """A keymint whose only reconciliation is the one a test asks for."""
    return make_stack(scheduler_enabled=False, **overrides)


def reconcile(stack: Stack, *, dry_run: bool = False, token: str | None = None) -> dict[str, Any]:
    answer = stack.call(
        "POST",
        "/v1/reconcile",
        token or stack.token(ADMIN_RULES),
        params={"dry_run": str(dry_run).lower()},
    )
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()["data"]
    return report


def entry(report: dict[str, Any], uid: int | str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in report["subaccounts"] if s["subaccount"] == int(uid)]
    assert len(found) == 1
    return found[0]


def master(stack: Stack) -> HTTP:
    return pybit(stack.sim.url, stack.master.api_key, stack.master.api_secret)


def create_by_hand(stack: Stack, uid: str, note: str) -> str:
    """A key the master creates straight at Bybit: keymint did not make it (whatever its note)."""
    answer = master(stack).create_sub_api_key(
        subuid=int(uid), readOnly=0, permissions=SPOT, ips="127.0.0.1", note=note
    )
    api_key: str = answer["result"]["apiKey"]
    return api_key


def keymint_note() -> tuple[str, str]:
    key = secrets.token_hex(12)
    return key, f"keymint:{key}"


def kv_read(stack: Stack, path: str) -> dict[str, Any] | None:
    try:
        answer = stack.vault.secrets.kv.v2.read_secret_version(
            path=f"{stack.prefix}/{path}", mount_point="secret", raise_on_deleted_version=False
        )
    except hvac.exceptions.InvalidPath:
        return None
    data: dict[str, Any] = answer["data"]["data"]
    return data


def ledger(stack: Stack, uid: str) -> dict[str, Any]:
    """The sub-account record: every key keymint holds there, and the foreign count."""
    return kv_read(stack, RECORD.format(uid=uid)) or {
        "uid": int(uid),
        "keys": {},
        "foreign_keys": 0,
    }


def plant_slot(stack: Stack, uid: str, key: str, *, age_s: float) -> None:
    """A write-ahead reservation as a mint writes it, `age_s` old, that never settled."""
    current = ledger(stack, uid)
    # Each entry is stored as one JSON string (keymint.engine.keys.accounts.encode).
    current["keys"][key] = json.dumps(
        {
            "key": key,
            "owner": "lease",
            "role": "spot-trader",
            "note": f"keymint:{key}",
            "state": "minting",
            "reserved_at": time.time() - age_s,
            "permissions": SPOT,
            "ips": ["127.0.0.1"],
        }
    )
    stack.vault.secrets.kv.v2.create_or_update_secret(
        path=f"{stack.prefix}/{RECORD.format(uid=uid)}", secret=current, mount_point="secret"
    )


def half_made_key(stack: Stack, uid: str, *, age_s: float) -> tuple[str, str]:
    """A mint that stopped between Bybit's create and settling its entry, `age_s` ago: a
    `minting` entry and the key, no lease. Its key id and note come back."""
    key, note = keymint_note()
    plant_slot(stack, uid, key, age_s=age_s)
    create_by_hand(stack, uid, note)
    return key, note


def kv_snapshot(stack: Stack, folder: str = "") -> dict[str, Any]:
    """Every record under the stack's prefix with its version."""
    kv = stack.vault.secrets.kv.v2
    found: dict[str, Any] = {}
    names = kv.list_secrets(path=f"{stack.prefix}/{folder}", mount_point="secret")["data"]["keys"]
    for name in names:
        if name.endswith("/"):
            found |= kv_snapshot(stack, folder + name)
            continue
        answer = kv.read_secret_version(
            path=f"{stack.prefix}/{folder}{name}",
            mount_point="secret",
            raise_on_deleted_version=False,
        )["data"]
        found[folder + name] = (answer["metadata"]["version"], answer["data"])
    return found


def unowned_keymint_keys(stack: Stack) -> list[dict[str, Any]]:
    """Keys at Bybit with keymint's note and no lease behind them."""
    leases = stack.call("GET", "/v1/leases", stack.token(ADMIN_RULES)).json()["data"]["keys"]
    owned = {lease.rsplit("-", 1)[1] for lease in leases}
    return [
        k
        for k in stack.keys_at_bybit()
        if k["note"].startswith("keymint:") and k["note"].split(":", 1)[1] not in owned
    ]
