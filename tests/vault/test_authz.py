"""Caller authorisation with real Vault policies and tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import hvac
import pytest

from keymint.devstack import ManagedProcess
from keymint.errors import PermissionDenied, Unauthenticated
from keymint.vault import (
    Authorizer,
    Capability,
    VaultEndpoint,
    VaultUnavailable,
    caller_token,
)

from .conftest import MakeToken

SPOT_TRADER = 'path "keymint/creds/spot-trader" { capabilities = ["update"] }'


@pytest.fixture
async def authz(endpoint: VaultEndpoint) -> AsyncIterator[Authorizer]:
    yield Authorizer(endpoint, cache_ttl_s=0)


@pytest.fixture
def spot_token(make_token: MakeToken) -> str:
    return make_token(SPOT_TRADER)


@pytest.mark.parametrize(
    ("path", "capability", "allowed"),
    [
        ("creds/spot-trader", "update", True),
        ("/creds/spot-trader/", "update", True),
        ("creds/other", "update", False),
        ("creds/spot-trader", "read", False),
        ("roles/x", "read", False),
        ("leases", "list", False),
    ],
)
async def test_policy_matrix(
    authz: Authorizer, spot_token: str, path: str, capability: Capability, allowed: bool
) -> None:
    if allowed:
        await authz.authorize(spot_token, path, capability)
        return
    with pytest.raises(PermissionDenied) as info:
        await authz.authorize(spot_token, path, capability)
    assert info.value.status_code == 403
    assert f"'{capability}' on 'keymint/{path.strip('/')}' is required" in info.value.message


async def test_globs_grant_and_deny_wins(authz: Authorizer, make_token: MakeToken) -> None:
    token = make_token(
        'path "keymint/creds/*" { capabilities = ["update"] }\n'
        'path "keymint/creds/blocked" { capabilities = ["deny"] }'
    )
    await authz.authorize(token, "creds/any-role", "update")
    with pytest.raises(PermissionDenied):
        await authz.authorize(token, "creds/blocked", "update")


async def test_the_identity_is_the_callers_and_never_holds_the_token(
    authz: Authorizer, spot_token: str, root: hvac.Client
) -> None:
    who = await authz.authorize(spot_token, "creds/spot-trader", "update")
    looked_up = root.auth.token.lookup(spot_token)["data"]
    assert who.accessor == looked_up["accessor"]
    assert who.display_name == looked_up["display_name"]
    assert set(who.policies) == set(looked_up["policies"])
    assert spot_token not in repr(who)


async def test_a_root_token_may_do_everything(authz: Authorizer, openbao_root_token: str) -> None:
    who = await authz.authorize(openbao_root_token, "config/rotate-root", "sudo")
    assert "root" in who.policies


async def test_no_token_is_401_and_a_garbage_token_403(authz: Authorizer) -> None:
    with pytest.raises(Unauthenticated) as missing:
        await authz.authorize(None, "creds/spot-trader", "update")
    assert missing.value.status_code == 401
    for garbage in ["s.notarealtoken", "two words", "x\r\nX-Injected: 1", "é" * 10]:
        with pytest.raises(PermissionDenied, match="invalid, expired, revoked"):
            await authz.authorize(garbage, "creds/spot-trader", "update")


async def test_sealed_or_stopped_vault_refuses_with_503(second_openbao: ManagedProcess) -> None:
    other_root = hvac.Client(url=second_openbao.url, token=second_openbao.extra["root_token"])
    other_root.sys.create_or_update_policy("spot", SPOT_TRADER)
    token = other_root.auth.token.create(policies=["spot"])["auth"]["client_token"]
    authz = Authorizer(VaultEndpoint(second_openbao.url), cache_ttl_s=60)
    await authz.authorize(token, "creds/spot-trader", "update")

    other_root.sys.seal()
    with pytest.raises(VaultUnavailable, match="sealed") as sealed:
        await authz.authorize(token, "creds/other", "update")
    assert sealed.value.status_code == 503

    second_openbao.stop()
    # Had the failure above been remembered, this would not ask Vault again.
    with pytest.raises(VaultUnavailable, match="unreachable"):
        await authz.authorize(token, "creds/other", "update")


async def test_a_revoked_token_stays_allowed_only_within_the_cache_ttl(
    endpoint: VaultEndpoint, spot_token: str, root: hvac.Client
) -> None:
    authz = Authorizer(endpoint, cache_ttl_s=1.0)
    await authz.authorize(spot_token, "creds/spot-trader", "update")
    root.auth.token.revoke(spot_token)
    await authz.authorize(spot_token, "creds/spot-trader", "update")
    assert spot_token not in repr(authz._cache)

    await asyncio.sleep(1.1)
    with pytest.raises(PermissionDenied):
        await authz.authorize(spot_token, "creds/spot-trader", "update")


async def test_without_a_cache_revocation_takes_effect_at_once(
    authz: Authorizer, spot_token: str, root: hvac.Client
) -> None:
    await authz.authorize(spot_token, "creds/spot-trader", "update")
    root.auth.token.revoke(spot_token)
    with pytest.raises(PermissionDenied):
        await authz.authorize(spot_token, "creds/spot-trader", "update")


async def test_a_denial_is_cached_no_longer_than_an_allow(
    endpoint: VaultEndpoint, make_token: MakeToken, root: hvac.Client
) -> None:
    token = make_token('path "keymint/creds/late" { capabilities = ["read"] }')
    authz = Authorizer(endpoint, cache_ttl_s=1.0)
    with pytest.raises(PermissionDenied):
        await authz.authorize(token, "creds/late", "update")
    policy = root.auth.token.lookup(token)["data"]["policies"][-1]
    root.sys.create_or_update_policy(
        policy, 'path "keymint/creds/late" { capabilities = ["update"] }'
    )
    await asyncio.sleep(1.1)
    await authz.authorize(token, "creds/late", "update")


@pytest.mark.parametrize(
    ("x_vault_token", "authorization", "expected"),
    [
        ("s.abc", "Bearer s.other", "s.abc"),
        (None, "Bearer s.abc", "s.abc"),
        (None, "bearer   s.abc ", "s.abc"),
        ("", "Basic dXNlcjpwYXNz", None),
        (None, "Bearer ", None),
        (None, None, None),
    ],
)
def test_the_token_comes_from_x_vault_token_or_a_bearer_header(
    x_vault_token: str | None, authorization: str | None, expected: str | None
) -> None:
    assert caller_token(x_vault_token=x_vault_token, authorization=authorization) == expected
