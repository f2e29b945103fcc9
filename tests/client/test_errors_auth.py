"""Typed refusals that never show a token or secret, and the bot's Vault token sources."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from client.support import api_keys_at_bybit, bot_rules, fast_roles
from keymint.client import (
    Forbidden,
    Keymint,
    RoleNotFound,
    StaticToken,
    TokenFile,
    approle_login,
)
from stackkit import ADMIN_RULES, MakeStack, Stack


def test_refusals_are_typed_and_never_carry_the_token(stack: Stack) -> None:
    token = stack.token(ADMIN_RULES)
    with (
        Keymint(stack.url, token=StaticToken(token)) as keymint,
        pytest.raises(RoleNotFound) as missing,
    ):
        keymint.mint("no-such-role")
    bot = stack.token(bot_rules("spot-trader"))
    with Keymint(stack.url, token=StaticToken(bot)) as keymint, pytest.raises(Forbidden) as denied:
        keymint.mint("monitor")
    with (
        Keymint(stack.url, token=StaticToken("s.not-a-real-token-123")) as stranger,
        pytest.raises(Forbidden) as unknown,
    ):
        stranger.mint("spot-trader")
    for error, secret in [(missing, token), (denied, bot), (unknown, "s.not-a-real-token-123")]:
        text = f"{error.value} {error.value!r}"
        assert secret not in text
        assert error.value.status in (403, 404)
    assert "no-such-role" in str(missing.value)


def test_credentials_never_show_their_secret(stack: Stack) -> None:
    token = stack.token(bot_rules("spot-trader"))
    with (
        Keymint(stack.url, token=StaticToken(token)) as keymint,
        keymint.mint("spot-trader") as lease,
    ):
        secret = lease.credentials.api_secret
        assert secret not in repr(lease.credentials) and secret not in str(lease.credentials)
        assert secret not in repr(lease)


def test_a_token_file_is_read_at_every_use(stack: Stack, tmp_path: Path) -> None:
    sink = tmp_path / "vault-token"
    sink.write_text("s.stale-token-000\n")
    with Keymint(stack.url, token=TokenFile(sink)) as keymint:
        with pytest.raises(Forbidden):
            keymint.mint("spot-trader")
        # The agent writes a new token: the next call uses it, with no restart.
        sink.write_text(stack.token(bot_rules("spot-trader")) + "\n")
        with keymint.mint("spot-trader") as lease:
            assert lease.credentials.api_key in api_keys_at_bybit(stack)


def test_approle_login_at_vault_gives_the_bot_its_token(make_stack: MakeStack) -> None:
    stack = make_stack(roles=fast_roles())
    root: hvac.Client = stack.vault
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy(stack.prefix, bot_rules("fast"))
    root.auth.approle.create_or_update_approle(
        stack.prefix, token_policies=[stack.prefix], token_ttl="1m"
    )
    role_id = root.auth.approle.read_role_id(stack.prefix)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(stack.prefix)["data"]["secret_id"]
    login = approle_login(role_id, secret_id, vault_addr=root.url)
    with Keymint(stack.url, token=login) as keymint, keymint.mint("fast") as lease:
        assert lease.credentials.api_key in api_keys_at_bybit(stack)
    assert login.logins == 1
