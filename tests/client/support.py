"""A role with short lifetimes, and a bot token allowed to use it, for the client's tests."""

from __future__ import annotations

from typing import Any

from keymint.client import Keymint, StaticToken
from stackkit import Stack, roles_of


def bot_rules(role: str) -> str:
    return (
        f'path "keymint/creds/{role}" {{ capabilities = ["update"] }}\n'
        f'path "keymint/leases/{role}/*" {{ capabilities = ["read", "update", "delete"] }}\n'
    )


def fast_roles(**spec: Any) -> Any:
    """`fast`: 2 s leases, replaced before a 7 s max_ttl."""
    return roles_of(fast={"ttl": 2, "max_ttl": 7, **spec})


def client_for(stack: Stack, role: str = "fast") -> Keymint:
    return Keymint(stack.url, token=StaticToken(stack.token(bot_rules(role))))


def api_keys_at_bybit(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}
