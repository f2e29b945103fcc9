"""keymint's own Vault policy (deploy/vault/): the shipped file is valid, it grants keymint its
prefix and nothing else, keymint really runs with it, and setup.sh sets Vault up with it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import certifi
import hvac
import pytest
from pydantic import SecretStr

from keymint.devstack import ManagedProcess, bao_binary
from keymint.own_vault_policy import POLICY_FILE, create_keymint_token, render_policy
from keymint.settings import Settings
from keymint.vault import KvStore, TokenAuth, VaultDenied, VaultEndpoint, VaultSession
from keymint.wiring import login_method
from stackkit import BOT_RULES, Stack, start_openbao

SETUP = POLICY_FILE.parent / "setup.sh"


def test_the_shipped_policy_parses_and_is_formatted(tmp_path: Path) -> None:
    copy = tmp_path / "policy.hcl"
    shutil.copy(POLICY_FILE, copy)
    done = subprocess.run(
        [bao_binary(), "policy", "fmt", str(copy)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert copy.read_text() == POLICY_FILE.read_text()


def test_rendering_moves_every_path_to_the_mount_and_prefix() -> None:
    shipped = POLICY_FILE.read_text()
    assert render_policy() == shipped
    moved = render_policy("kv/prod", "desk-a")
    # Nothing is left on the shipped mount: a path there would be outside keymint's prefix.
    assert '"secret/' not in moved
    back = moved.replace('"kv/prod/data/desk-a/', '"secret/data/keymint/')
    assert back.replace('"kv/prod/metadata/desk-a/', '"secret/metadata/keymint/') == shipped


@pytest.fixture
def root(openbao: ManagedProcess) -> hvac.Client:
    return hvac.Client(url=openbao.url, token=openbao.extra["root_token"])


@pytest.fixture
def prefix() -> str:
    return "km-own-" + os.urandom(4).hex()


async def test_keymints_token_reaches_its_prefix_and_nothing_else(
    openbao: ManagedProcess, root: hvac.Client, prefix: str
) -> None:
    token = create_keymint_token(root, prefix=prefix, policy_name=f"keymint-{prefix}")
    assert root.auth.token.lookup(token)["data"]["policies"] == [f"keymint-{prefix}"]
    asked = {
        f"secret/data/{prefix}/keys/1": ["create", "read", "update"],
        f"secret/metadata/{prefix}/keys/": ["delete", "list"],
        f"secret/data/{prefix}/config/master": ["read"],
        f"secret/metadata/{prefix}/config/master": ["deny"],
        f"secret/data/{prefix}-other/keys/1": ["deny"],
        "secret/data/other/config/master": ["deny"],
        "secret/metadata/other/": ["deny"],
        "sys/policies/acl/keymint": ["deny"],
        "auth/token/create": ["deny"],
        "auth/token/lookup-self": ["read"],
        "auth/token/renew-self": ["update"],
        "sys/wrapping/wrap": ["update"],
    }
    answer = root.adapter.post("/v1/sys/capabilities", json={"token": token, "paths": list(asked)})
    assert {path: sorted(answer["data"][path]) for path in asked} == asked

    root.secrets.kv.v2.create_or_update_secret(path="other/config/master", secret={"k": "v"})
    endpoint = VaultEndpoint(openbao.url)
    try:
        with pytest.raises(VaultDenied):
            await KvStore(endpoint.client(token), prefix="other").read("config/master")
        with pytest.raises(VaultDenied):
            await KvStore(endpoint.client(token), prefix=prefix).write(
                "config/master", {"api_key": "x"}, cas=0
            )
    finally:
        endpoint.close()


async def test_keymint_renews_its_token_under_the_policy(
    openbao: ManagedProcess, root: hvac.Client, prefix: str
) -> None:
    token = create_keymint_token(root, prefix=prefix, policy_name=f"keymint-{prefix}", ttl="30s")
    endpoint = VaultEndpoint(openbao.url)
    session = VaultSession(endpoint, TokenAuth(SecretStr(token)), renew_at=0.01)
    await session.start()
    try:
        deadline = time.monotonic() + 10
        while "last_renewal" not in root.auth.token.lookup(token)["data"]:
            assert time.monotonic() < deadline, "keymint's token was not renewed"
            await asyncio.sleep(0.1)
    finally:
        await session.stop()
        endpoint.close()


def test_keymint_serves_with_the_policy_token(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    assert stack.call("POST", "/v1/creds/spot-trader", bot).status_code == 200
    # Revoking the policy token stops keymint: it held no other.
    stack.vault.auth.token.revoke(stack.keymint_token)
    refused = stack.call("POST", "/v1/creds/spot-trader", bot)
    # keymint cannot work, and says why: unavailable, never an internal error.
    assert refused.status_code == 503
    assert "keymint's own token" in refused.json()["errors"][0]
    assert len(stack.keys_at_bybit()) == 1


def setup_env(bao: ManagedProcess, home: Path) -> dict[str, str]:
    """setup.sh's environment as an admin runs it: the CLI, the server and a root token."""
    return {
        **os.environ,
        "BAO": bao_binary(),
        "BAO_ADDR": bao.url,
        "BAO_TOKEN": bao.extra["root_token"],
        "HOME": str(home),
    }


def test_setup_script_sets_up_vault_and_can_run_again(tmp_path: Path) -> None:
    bao = start_openbao(tmp_path / "bao")
    try:
        env = {
            **setup_env(bao, tmp_path),
            "KEYMINT_VAULT_KV_MOUNT": "kv-trading",
            "KEYMINT_VAULT_PREFIX": "desk-a",
            "KEYMINT_NAMESPACE": "trading",
            "KUBERNETES_HOST": "https://127.0.0.1:6443",
            "KUBERNETES_CA_CERT": certifi.where(),
            "BYBIT_API_KEY": "master-key",
            "BYBIT_API_SECRET": "master-secret-" + os.urandom(8).hex(),
            "BYBIT_MASTER_UID": "1001",
        }
        for _ in range(2):
            done = subprocess.run(
                ["sh", str(SETUP)], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert env["BYBIT_API_SECRET"] not in done.stdout + done.stderr
        root = hvac.Client(url=bao.url, token=bao.extra["root_token"])
        assert root.sys.read_policy("keymint")["data"]["rules"] == render_policy(
            "kv-trading", "desk-a"
        )
        role = root.read("auth/kubernetes/role/keymint")["data"]
        assert role["bound_service_account_names"] == ["keymint"]
        assert role["bound_service_account_namespaces"] == ["trading"]
        assert role["token_policies"] == ["keymint"]
        assert role["token_no_default_policy"] is True
        assert (
            root.read("auth/kubernetes/config")["data"]["kubernetes_host"] == env["KUBERNETES_HOST"]
        )
        master = root.secrets.kv.v2.read_secret_version(
            "desk-a/config/master", mount_point="kv-trading", raise_on_deleted_version=True
        )["data"]["data"]
        assert master == {
            "api_key": "master-key",
            "api_secret": env["BYBIT_API_SECRET"],
            "master_uid": "1001",
        }
    finally:
        bao.stop()


def test_setup_script_makes_an_approle_keymint_logs_in_with(tmp_path: Path) -> None:
    """KEYMINT_VAULT_AUTH=approle (compose, VMs): role-id and secret-id files keymint reads
    through KEYMINT_VAULT_APPROLE_ROLE_ID_FILE and _SECRET_ID_FILE; its token holds only the
    policy."""
    bao = start_openbao(tmp_path / "bao")
    out = tmp_path / "approle"
    try:
        env = {
            **setup_env(bao, tmp_path),
            "KEYMINT_VAULT_AUTH": "approle",
            "KEYMINT_APPROLE_DIR": str(out),
        }
        secret_ids = []
        for _ in range(2):
            done = subprocess.run(
                ["sh", str(SETUP)], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            secret_ids.append((out / "secret-id").read_text())
            assert secret_ids[-1].strip() not in done.stdout + done.stderr
        assert secret_ids[0] == secret_ids[1]  # running again keeps the secret-id it made
        for name in ("role-id", "secret-id"):
            assert (out / name).stat().st_mode & 0o777 == 0o600
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            vault_addr=bao.url,
            vault_auth_method="approle",
            vault_approle_role_id_file=out / "role-id",
            vault_approle_secret_id_file=out / "secret-id",
        )
        client = hvac.Client(url=bao.url)
        login_method(settings).login(client)
        looked_up = client.auth.token.lookup_self()["data"]
        assert looked_up["policies"] == ["keymint"]
        bad = subprocess.run(
            ["sh", str(SETUP)],
            env={**env, "KEYMINT_VAULT_AUTH": "ldap"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2 and "expected kubernetes or approle" in bad.stderr
    finally:
        bao.stop()
