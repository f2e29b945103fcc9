"""Static-role fixtures: more keymint replicas in this process, on a stack's Vault prefix, whose
rotator a test drives with its own clock (the scheduler would call `rotate_due`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import hvac
import pytest

from keymint import wiring
from keymint.wiring import Services
from stackkit import BOT_IP, Stack, in_process

Replica = Callable[[Stack], Awaitable[Services]]


def static_role(stack: Stack, **overrides: Any) -> dict[str, Any]:
    return {
        "subaccount_uid": int(stack.master.subaccounts[0]),
        "permissions": {"Spot": ["SpotTrade"]},
        "ips": [BOT_IP],
        "rotation_period": "1h",
        "overlap": "1s",
        **overrides,
    }


def creds_record(stack: Stack, name: str) -> dict[str, Any]:
    """The static-creds record as a bot reads it from Vault (what a Vault Agent template sees)."""
    found = stack.vault.secrets.kv.v2.read_secret_version(
        path=f"{stack.prefix}/static-creds/{name}", raise_on_deleted_version=True
    )
    record: dict[str, Any] = found["data"]["data"]
    return record


def ledger_keys(stack: Stack) -> set[str]:
    """The keys keymint's record holds on the stack's first sub-account."""
    uid = stack.master.subaccounts[0]
    try:
        found = stack.vault.secrets.kv.v2.read_secret_version(
            path=f"{stack.prefix}/keys/{uid}", raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return set()
    return set(found["data"]["data"]["keys"])


def api_keys_at_bybit(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    started: list[Services] = []

    async def start(stack: Stack) -> Services:
        services = await wiring.start(in_process(stack))
        started.append(services)
        return services

    yield start
    for services in started:
        await services.stop()
