"""`keymint creds` and `keymint lease lookup|renew|revoke`, run as the vault CLI would be, and
where the commands get their Vault token from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.procs import bot_env, run_keymint
from client.support import api_keys_at_bybit
from keymint.client import StaticToken, VaultLogin
from keymint.client.auth import login_from_env
from stackkit import Stack


def test_creds_then_lease_lookup_renew_and_revoke(stack: Stack) -> None:
    env = bot_env(stack, "spot-trader")
    minted = run_keymint("creds", "spot-trader", "--ttl", "5m", env=env)
    assert minted.returncode == 0, minted.stderr
    answer = json.loads(minted.stdout)
    lease_id, key = answer["lease_id"], answer["data"]["api_key"]
    assert 0 < answer["lease_duration"] <= 300 and answer["data"]["api_secret"]
    assert key in api_keys_at_bybit(stack)

    looked = run_keymint("lease", "lookup", lease_id, env=env)
    assert looked.returncode == 0, looked.stderr
    assert json.loads(looked.stdout)["id"] == lease_id

    renewed = run_keymint("lease", "renew", lease_id, "--increment", "20m", env=env)
    assert renewed.returncode == 0, renewed.stderr
    assert 300 < json.loads(renewed.stdout)["ttl"] <= 1200

    revoked = run_keymint("lease", "revoke", lease_id, env=env)
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    assert key not in api_keys_at_bybit(stack)
    gone = run_keymint("lease", "lookup", lease_id, env=env)
    assert gone.returncode == 1 and "404" in gone.stderr


def test_creds_as_env_lines(stack: Stack) -> None:
    env = bot_env(stack, "spot-trader")
    minted = run_keymint("creds", "spot-trader", "--format", "env", env=env)
    assert minted.returncode == 0, minted.stderr
    values = dict(line.split("=", 1) for line in minted.stdout.splitlines())
    assert values.keys() == {"BYBIT_API_KEY", "BYBIT_API_SECRET", "KEYMINT_LEASE_ID"}
    assert values["BYBIT_API_KEY"] in api_keys_at_bybit(stack)
    assert run_keymint("lease", "revoke", values["KEYMINT_LEASE_ID"], env=env).returncode == 0


def test_refusals_are_one_line_without_the_token(stack: Stack) -> None:
    env = bot_env(stack, "spot-trader")
    unknown = run_keymint("creds", "monitor", env=env)
    assert unknown.returncode == 1 and "403" in unknown.stderr
    assert env["VAULT_TOKEN"] not in unknown.stderr + unknown.stdout
    bad = run_keymint("creds", "spot-trader", "--env", "X=api_sekret", env=env)
    assert bad.returncode == 1 and "api_sekret" in bad.stderr
    no_token = run_keymint("creds", "spot-trader", env={**env, "VAULT_TOKEN": ""})
    assert no_token.returncode == 1 and "VAULT_TOKEN" in no_token.stderr


def test_the_token_comes_from_a_kubernetes_or_approle_login_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("KEYMINT_K8S_ROLE", "KEYMINT_APPROLE_ROLE_ID", "VAULT_TOKEN", "BAO_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VAULT_ADDR", "http://vault.example:8200")
    monkeypatch.setenv("VAULT_TOKEN", "s.abc")
    assert isinstance(login_from_env(), StaticToken)
    monkeypatch.setenv("KEYMINT_APPROLE_ROLE_ID", "role-1")
    monkeypatch.setenv("KEYMINT_APPROLE_SECRET_ID", "secret-1")
    approle = login_from_env()
    assert isinstance(approle, VaultLogin)
    assert approle.url == "http://vault.example:8200/v1/auth/approle/login"
    jwt = tmp_path / "token"
    jwt.write_text("eyJ.jwt\n")
    monkeypatch.setenv("KEYMINT_K8S_ROLE", "bots")
    monkeypatch.setenv("KEYMINT_K8S_MOUNT", "k8s-prod")
    monkeypatch.setenv("KEYMINT_K8S_JWT_FILE", str(jwt))
    k8s = login_from_env()
    assert isinstance(k8s, VaultLogin)
    assert k8s.url == "http://vault.example:8200/v1/auth/k8s-prod/login"
    assert k8s.known_secrets()[1:] == ["bots", "eyJ.jwt"]
