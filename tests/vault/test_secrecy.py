"""No token or secret value ever shows in an error, a repr or a log line, on any failure path."""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import hvac
import pytest
from pydantic import SecretStr

from keymint.devstack import free_port
from keymint.errors import KeymintError
from keymint.vault import (
    AppRoleAuth,
    Authorizer,
    CasConflict,
    KubernetesAuth,
    KvStore,
    TokenAuth,
    VaultDenied,
    VaultEndpoint,
    VaultLoginFailed,
    VaultSession,
    VaultUnavailable,
    Versioned,
    wrap,
)

from .conftest import MakeToken


def mark() -> str:
    return "leak" + secrets.token_hex(12)


def assert_nowhere(needles: list[str], *texts: str) -> None:
    for needle in needles:
        for text in texts:
            assert needle not in text


async def assert_clean_failure(
    action: Awaitable[object],
    expected: type[KeymintError],
    needles: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(expected) as info:
        await action
    exc = info.value
    rendered = "".join(traceback.format_exception(exc))
    assert_nowhere(needles, str(exc), repr(exc), repr(exc.args), rendered, caplog.text)


@pytest.fixture
def dead_endpoint() -> VaultEndpoint:
    return VaultEndpoint(f"http://127.0.0.1:{free_port()}")


async def test_caller_tokens_never_leak(
    endpoint: VaultEndpoint,
    dead_endpoint: VaultEndpoint,
    make_token: MakeToken,
    caplog: pytest.LogCaptureFixture,
) -> None:
    garbage, injected = "s." + mark(), mark()
    crlf = injected + "\r\nX-Injected: 1"
    weak = make_token('path "keymint/creds/other" { capabilities = ["update"] }')
    authz = Authorizer(endpoint, cache_ttl_s=5)
    cases: list[tuple[Authorizer, str, type[KeymintError]]] = [
        (authz, garbage, KeymintError),
        (authz, crlf, KeymintError),
        (authz, weak, KeymintError),
        (Authorizer(dead_endpoint), garbage, VaultUnavailable),
        (Authorizer(dead_endpoint), crlf, KeymintError),
    ]
    for authorizer, token, expected in cases:
        for _ in range(2):  # the second answer comes from the cache
            action = authorizer.authorize(token, "creds/spot-trader", "update")
            await assert_clean_failure(action, expected, [token, injected], caplog)
    assert_nowhere([garbage, weak], repr(vars(authz)))


async def test_kv_values_and_keymints_token_never_leak(
    endpoint: VaultEndpoint,
    dead_endpoint: VaultEndpoint,
    make_token: MakeToken,
    prefix: str,
    kv: KvStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = {"api_secret": mark()}
    await kv.write("static-creds/mm", value, cas=0)
    await assert_clean_failure(
        kv.write("static-creds/mm", value, cas=0), CasConflict, [value["api_secret"]], caplog
    )

    reader = make_token(f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}')
    denied = KvStore(endpoint.client(reader), prefix=prefix)
    needles = [reader, value["api_secret"]]
    await assert_clean_failure(denied.write("x", value, cas=0), VaultDenied, needles, caplog)
    token = "s." + mark()
    needles = [token, value["api_secret"]]
    await assert_clean_failure(
        wrap(endpoint.client(token), value, 60), VaultDenied, needles, caplog
    )

    unreachable = KvStore(dead_endpoint.client(token), prefix=prefix)
    for action in [
        unreachable.write("x", value, cas=0),
        unreachable.read("x"),
        wrap(dead_endpoint.client(token), value, 60),
    ]:
        await assert_clean_failure(action, VaultUnavailable, needles, caplog)


async def test_login_secrets_never_leak(
    endpoint: VaultEndpoint, root: hvac.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if "kubernetes/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("kubernetes")
    jwt, secret_id, token = mark(), mark(), "s." + mark()
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text(jwt)
    methods: list[tuple[Callable[[], object], list[str]]] = [
        (lambda: AppRoleAuth("no-such-role", secret_id=SecretStr(secret_id)), [secret_id]),
        (lambda: TokenAuth(SecretStr(token)), [token]),
        # OpenBao's own Kubernetes login, refused before it would ask a Kubernetes API server.
        (lambda: KubernetesAuth("no-such-role", jwt_file=jwt_file), [jwt]),
    ]
    for make, needles in methods:
        method = make()
        assert_nowhere(needles, repr(method), str(method))
        session = VaultSession(endpoint, method)  # type: ignore[arg-type]
        await assert_clean_failure(session.start(), VaultLoginFailed, needles, caplog)
        assert_nowhere(needles, repr(session))


async def test_a_failing_renewal_logs_no_token(
    endpoint: VaultEndpoint,
    make_token: MakeToken,
    root: hvac.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token('path "keymint/x" { capabilities = ["read"] }', ttl="60s")
    session = VaultSession(endpoint, TokenAuth(SecretStr(token)), renew_at=0.01)
    await session.start()
    root.auth.token.revoke(token)
    await asyncio.sleep(1.0)
    await session.stop()
    assert "refresh failed" in caplog.text
    assert_nowhere([token], caplog.text, repr(session))


def test_records_do_not_show_their_values() -> None:
    value = mark()
    assert_nowhere(
        [value], repr(Versioned({"api_secret": value}, 3)), str(Versioned({"k": value}, 1))
    )
