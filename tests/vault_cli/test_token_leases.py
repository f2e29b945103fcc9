"""Leases die with the token that minted them, as in Vault: a revoked or expired bot token
means its keys are dead at Bybit within one check interval; an outage revokes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import SecretStr

from keymint import wiring
from keymint.devstack import free_port
from keymint.observability.metrics import REGISTRY
from keymint.own_vault_policy import render_policy
from keymint.vault import TokenAccessors, TokenAuth, VaultEndpoint, VaultSession
from keymint.wiring import Services
from stackkit import MakeStack, Stack, in_process, roles_of, wait_for

BOT = 'path "keymint/creds/*" { capabilities = ["update"] }'
ROLES = roles_of(
    **{"spot-trader": {"warm_pool": 2}, "sticky": {"revoke_with_token": False, "pool": 1}}
)


def live_keys(stack: Stack) -> set[str]:
    return {k["apiKey"] for k in stack.keys_at_bybit()}


def mint(stack: Stack, token: str, role: str = "spot-trader") -> str:
    answer = stack.call("POST", f"/v1/creds/{role}", token, json={"ttl": "30m"})
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["data"]["api_key"]
    return key


def lookups() -> float:
    return (
        REGISTRY.get_sample_value(
            "keymint_vault_request_duration_seconds_count",
            {"operation": "token.lookup_accessor"},
        )
        or 0.0
    )


def test_a_revoked_token_takes_its_keys_with_it_within_the_interval(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(token_check_interval_s=1.0)
    bot, other = stack.token(BOT), stack.token(BOT)
    doomed = {mint(stack, bot), mint(stack, bot)}
    kept = mint(stack, other)
    stack.vault.auth.token.revoke(bot)
    wait_for(lambda: live_keys(stack) == {kept})
    assert stack.call("POST", "/v1/creds/spot-trader", bot).status_code == 403
    assert doomed.isdisjoint(live_keys(stack))


def test_an_expired_token_takes_its_keys_with_it(make_stack: MakeStack) -> None:
    stack = make_stack(token_check_interval_s=1.0)
    bot = stack.token(BOT, ttl="3s")
    mint(stack, bot)
    assert len(live_keys(stack)) == 1
    wait_for(lambda: live_keys(stack) == set(), timeout_s=20)


Engine = Callable[..., Awaitable[Services]]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    started: list[Services] = []

    async def start(stack: Stack, **overrides: object) -> Services:
        services = await wiring.start(in_process(stack, **overrides))
        started.append(services)
        assert await services.leader.tick()
        return services

    yield start
    for services in started:
        await services.stop()


async def test_one_lookup_per_token_per_check_and_only_token_leases_touched(
    make_stack: MakeStack, engine: Engine
) -> None:
    stack = make_stack(scheduler_enabled=False, roles=ROLES, subaccounts=3)
    services = await engine(stack)
    await services.sweep.run(services.leader.fence())  # fills the warm pool
    pooled = live_keys(stack)
    assert len(pooled) == 2
    bot, other = stack.token(BOT), stack.token(BOT)
    doomed = {mint(stack, bot), mint(stack, bot)}
    sticky = mint(stack, bot, "sticky")
    kept = mint(stack, other)
    # The mints took the pool's keys; refill it so pooled keys are present during the check.
    await services.sweep.run(services.leader.fence())
    pooled = live_keys(stack) - doomed - {sticky, kept}
    assert len(pooled) == 2

    before = lookups()
    first = await services.token_leases.run(services.leader.fence())
    # Two tokens, four leases (the sticky role opted out): two calls.
    assert (first.tokens, first.gone, first.revoked) == (2, 0, 0)
    assert lookups() - before == 2

    stack.vault.auth.token.revoke(bot)
    before = lookups()
    second = await services.token_leases.run(services.leader.fence())
    assert (second.tokens, second.gone, second.revoked) == (2, 1, 2)
    assert lookups() - before == 2
    assert live_keys(stack) == pooled | {sticky, kept}


async def test_vault_not_answering_revokes_nothing(make_stack: MakeStack, engine: Engine) -> None:
    stack = make_stack(scheduler_enabled=False)
    services = await engine(stack)
    bot = stack.token(BOT)
    key = mint(stack, bot)
    stack.vault.auth.token.revoke(bot)

    # The same engine, asking a Vault that is down.
    down = VaultEndpoint(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    answering = services.token_leases.tokens
    services.token_leases.tokens = TokenAccessors(
        VaultSession(down, TokenAuth(SecretStr(stack.keymint_token)))
    )
    outage = await services.token_leases.run(services.leader.fence())
    services.token_leases.tokens = answering
    assert (outage.tokens, outage.unanswered, outage.revoked) == (1, 1, 0)
    assert live_keys(stack) == {key}
    down.close()

    # Vault answering refuses keymint's token (no lookup-accessor in its policy): nothing either.
    shipped = render_policy(prefix=stack.prefix)
    weak = stack.token(shipped.replace('"auth/token/lookup-accessor"', '"auth/token/other"'))
    refused = await engine(stack, vault_token=weak)
    result = await refused.token_leases.run(refused.leader.fence())
    assert (result.unanswered, result.revoked) == (1, 0)
    assert live_keys(stack) == {key}

    done = await services.token_leases.run(services.leader.fence())
    assert done.revoked == 1 and live_keys(stack) == set()
