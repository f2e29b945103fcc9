"""Authorisation by real Vault policies: keymint asks Vault, with the caller's own token."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from stackkit import BOT_RULES, MakeStack, Stack, start_openbao


def test_policy_matrix(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    monitor_only = stack.token('path "keymint/creds/monitor" { capabilities = ["update"] }')

    assert stack.call("POST", "/v1/creds/spot-trader", bot).status_code == 200
    denied = stack.call("POST", "/v1/creds/monitor", bot)
    assert denied.status_code == 403
    assert denied.json() == {
        "errors": ["permission denied: 'update' on 'keymint/creds/monitor' is required"]
    }
    assert stack.call("POST", "/v1/creds/spot-trader", monitor_only).status_code == 403
    assert stack.call("GET", "/v1/roles", bot).status_code == 403
    assert stack.call("GET", "/v1/leases", bot).status_code == 403

    no_token = stack.call("POST", "/v1/creds/spot-trader")
    assert no_token.status_code == 401
    assert "Vault token is required" in no_token.json()["errors"][0]

    garbage = stack.call("POST", "/v1/creds/spot-trader", "s.not-a-real-token-at-all")
    assert garbage.status_code == 403
    assert "s.not-a-real" not in garbage.text

    bearer = stack.http.post("/v1/creds/spot-trader", headers={"Authorization": f"Bearer {bot}"})
    assert bearer.status_code == 200
    # Two mints by the bot, none by anyone denied.
    assert len(stack.keys_at_bybit()) == 2


def test_denial_does_not_reveal_whether_a_role_exists(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    assert stack.call("POST", "/v1/creds/no-such-role", bot).status_code == 403


def test_vault_down_means_503_and_nothing_minted(make_stack: MakeStack, tmp_path: Path) -> None:
    bao = start_openbao(tmp_path / "bao")
    try:
        stack = make_stack(vault=bao)
        bot = stack.token(BOT_RULES)
    finally:
        bao.stop()
    with capture_logs() as logs:
        answer = stack.call("POST", "/v1/creds/spot-trader", bot)
    assert answer.status_code == 503, answer.text
    assert stack.keys_at_bybit() == []
    # An outage is not a denial: no audit event says the caller was refused.
    assert [e for e in logs if e.get("audit")] == []
    assert any(e["event"] == "authorization_unavailable" for e in logs)
    health = stack.call("GET", "/v1/sys/health")
    assert health.status_code == 503
    assert stack.call("GET", "/healthz").status_code == 200


@pytest.mark.parametrize(
    ("rules", "method", "path", "allowed"),
    [
        ('path "keymint/roles" { capabilities = ["list"] }', "GET", "/v1/roles", True),
        ('path "keymint/roles/*" { capabilities = ["read"] }', "GET", "/v1/roles/monitor", True),
        ('path "keymint/roles/*" { capabilities = ["list"] }', "GET", "/v1/roles/monitor", False),
        ('path "keymint/config" { capabilities = ["read"] }', "GET", "/v1/config", True),
        ('path "keymint/config" { capabilities = ["read"] }', "PUT", "/v1/config", False),
        ('path "keymint/leases" { capabilities = ["list"] }', "GET", "/v1/leases", True),
        (
            'path "keymint/leases/revoke-prefix/*" { capabilities = ["update"] }',
            "POST",
            "/v1/leases/revoke-prefix/monitor",
            False,
        ),
        (
            'path "keymint/leases/revoke-prefix/*" { capabilities = ["update", "sudo"] }',
            "POST",
            "/v1/leases/revoke-prefix/monitor",
            True,
        ),
    ],
)
def test_admin_paths_need_their_capability(
    stack: Stack, rules: str, method: str, path: str, allowed: bool
) -> None:
    token = stack.token(rules)
    kwargs = {"json": {"bybit_base_url": "testnet"}} if method == "PUT" else {}
    answer = stack.call(method, path, token, **kwargs)
    assert (answer.status_code != 403) is allowed, answer.text
