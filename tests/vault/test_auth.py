"""How keymint logs in: AppRole and renewal for real; Kubernetes against a fake login endpoint."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import hvac
import hvac.exceptions
import pytest
from pydantic import SecretStr

from keymint.devstack import LOOPBACK, ManagedProcess
from keymint.own_vault_policy import render_policy
from keymint.vault import (
    AppRoleAuth,
    KubernetesAuth,
    KvStore,
    TlsOptions,
    TokenAuth,
    VaultEndpoint,
    VaultLoginFailed,
    VaultSession,
    VaultUnavailable,
)


@pytest.fixture
def approle(root: hvac.Client, prefix: str) -> dict[str, str]:
    """An AppRole whose tokens live 3 s, at most 5 s, and hold keymint's shipped policy for this
    test's KV prefix and nothing else: renewing must be allowed by that file alone."""
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy(prefix, render_policy(prefix=prefix))
    root.auth.approle.create_or_update_approle(
        prefix,
        token_policies=[prefix],
        token_no_default_policy=True,
        token_ttl="3s",
        token_max_ttl="5s",
    )
    return {
        "role_id": root.auth.approle.read_role_id(prefix)["data"]["role_id"],
        "secret_id": root.auth.approle.generate_secret_id(prefix)["data"]["secret_id"],
    }


async def test_approle_token_is_renewed_then_replaced_and_keeps_working(
    endpoint: VaultEndpoint, approle: dict[str, str], prefix: str, tmp_path: Path
) -> None:
    secret_id_file = tmp_path / "secret-id"
    secret_id_file.write_text(approle["secret_id"] + "\n")
    ops: list[tuple[str, bool]] = []
    session = VaultSession(
        endpoint,
        AppRoleAuth(approle["role_id"], secret_id_file=secret_id_file),
        hook=lambda op, _s, ok: ops.append((op, ok)),
    )
    await session.start()
    first_token = session.client.token
    kv = KvStore(session.client, prefix=prefix)
    try:
        # 6 s: past the first token's TTL (3 s) and its max TTL (5 s).
        for i in range(12):
            await kv.write(f"tick/{i}", {"i": i}, cas=0)
            await asyncio.sleep(0.5)
    finally:
        await session.stop()
    assert ops.count(("auth.renew", True)) >= 1
    assert ops.count(("auth.login", True)) >= 2
    assert session.client.token != first_token
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=endpoint.addr, token=first_token).auth.token.lookup_self()


async def test_a_wrong_secret_id_is_a_login_failure(
    endpoint: VaultEndpoint, approle: dict[str, str]
) -> None:
    method = AppRoleAuth(approle["role_id"], secret_id=SecretStr("wrong-" + secrets.token_hex(8)))
    with pytest.raises(VaultLoginFailed, match="approle login"):
        await VaultSession(endpoint, method).start()


async def test_a_token_without_ttl_is_never_renewed(
    endpoint: VaultEndpoint, openbao_root_token: str
) -> None:
    ops: list[str] = []
    session = VaultSession(
        endpoint,
        TokenAuth(SecretStr(openbao_root_token)),
        hook=lambda op, _s, _ok: ops.append(op),
        renew_at=0.0,
    )
    await session.start()
    await asyncio.sleep(0.2)
    await session.stop()
    assert ops == ["auth.login"]
    assert "ttl=0s" in repr(session)


class FakeOpenBaoLogin(BaseHTTPRequestHandler):
    """A FAKE: imitates only OpenBao's `POST /v1/auth/<mount>/login` for Kubernetes auth.

    A real check needs a Kubernetes API server, since OpenBao asks its TokenReview API.
    """

    requests: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    issued = "s.fake-" + secrets.token_hex(8)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenBaoLogin.requests.append((self.path, body))
        answer = {"auth": {"client_token": self.issued, "lease_duration": 600, "renewable": True}}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_login_server() -> Iterator[str]:
    FakeOpenBaoLogin.requests = []
    server = ThreadingHTTPServer((LOOPBACK, 0), FakeOpenBaoLogin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_kubernetes_login_sends_the_service_account_jwt_to_the_mount(
    fake_login_server: str, tmp_path: Path
) -> None:
    jwt_file = tmp_path / "token"
    jwt = "eyJhbGciOiJSUzI1NiJ9.fake-sa-jwt.sig"
    jwt_file.write_text(jwt + "\n")
    endpoint = VaultEndpoint(fake_login_server)
    session = VaultSession(endpoint, KubernetesAuth("keymint", jwt_file=jwt_file, mount="k8s-prod"))
    await session.start()
    await session.stop()
    assert FakeOpenBaoLogin.requests == [
        ("/v1/auth/k8s-prod/login", {"role": "keymint", "jwt": jwt})
    ]
    assert session.client.token == FakeOpenBaoLogin.issued
    endpoint.close()


async def test_a_missing_service_account_token_file_is_a_login_failure(tmp_path: Path) -> None:
    method = KubernetesAuth("keymint", jwt_file=tmp_path / "absent")
    with pytest.raises(VaultLoginFailed, match="absent"):
        await VaultSession(VaultEndpoint("http://127.0.0.1:9"), method).start()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_tls_needs_the_ca_unless_verification_is_skipped(
    openbao_tls: ManagedProcess,
) -> None:
    method = TokenAuth(SecretStr(openbao_tls.extra["root_token"]))
    for tls in [
        TlsOptions(ca_cert=Path(openbao_tls.extra["ca_cert"])),
        TlsOptions(skip_verify=True),
    ]:
        session = VaultSession(VaultEndpoint(openbao_tls.url, tls=tls), method)
        await session.start()
        await session.stop()
    with pytest.raises(VaultUnavailable, match="SSLError"):
        await VaultSession(VaultEndpoint(openbao_tls.url), method).start()


def test_client_certificate_and_key_are_passed_as_a_pair(tmp_path: Path) -> None:
    tls = TlsOptions(client_cert=tmp_path / "c.pem", client_key=tmp_path / "k.pem")
    assert tls.cert == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert TlsOptions(client_cert=tmp_path / "both.pem").cert == (
        str(tmp_path / "both.pem"),
        str(tmp_path / "both.pem"),
    )
    assert TlsOptions().cert is None


async def test_approle_role_id_comes_from_the_setting_or_its_file(
    endpoint: VaultEndpoint, approle: dict[str, str], tmp_path: Path
) -> None:
    from keymint.settings import Settings
    from keymint.wiring import login_method

    role_id, secret_id = tmp_path / "role-id", tmp_path / "secret-id"
    role_id.write_text(approle["role_id"] + "\n")
    secret_id.write_text(approle["secret_id"] + "\n")
    session = VaultSession(endpoint, AppRoleAuth(role_id_file=role_id, secret_id_file=secret_id))
    await session.start()
    await session.stop()

    def settings(**fields: Any) -> Settings:
        return Settings(_env_file=None, vault_auth_method="approle", **fields)  # type: ignore[call-arg]

    for wrong in ({}, {"vault_approle_role_id": "a", "vault_approle_role_id_file": role_id}):
        with pytest.raises(ValueError, match="needs one of KEYMINT_VAULT_APPROLE_ROLE_ID and"):
            login_method(settings(**wrong))
    with pytest.raises(ValueError, match="one of role_id and role_id_file"):
        AppRoleAuth()
    for unreadable, message in ((tmp_path / "missing", "No such file"), (role_id, "is empty")):
        role_id.write_text("\n")
        method = AppRoleAuth(role_id_file=unreadable, secret_id_file=secret_id)
        with pytest.raises(VaultLoginFailed, match=message):
            await VaultSession(endpoint, method).start()
