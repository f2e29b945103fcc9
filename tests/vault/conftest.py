"""Fixtures for the Vault adapter: clients, tokens and policies on the real OpenBao dev server."""

from __future__ import annotations

import secrets
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import hvac
import pytest

from keymint.devstack import (
    LOOPBACK,
    ManagedProcess,
    OpenBaoCluster,
    bao_binary,
    free_port,
    start_openbao_raft,
)
from keymint.own_vault_policy import create_keymint_token
from keymint.vault import KvStore, VaultEndpoint
from stackkit import needs_the_bao_binary, start_openbao

MakeToken = Callable[..., str]


@pytest.fixture
def openbao_root_token(openbao: ManagedProcess) -> str:
    return openbao.extra["root_token"]


@pytest.fixture
def root(openbao: ManagedProcess, openbao_root_token: str) -> hvac.Client:
    return hvac.Client(url=openbao.url, token=openbao_root_token)


@pytest.fixture
async def endpoint(openbao: ManagedProcess) -> AsyncIterator[VaultEndpoint]:
    ep = VaultEndpoint(openbao.url)
    yield ep
    ep.close()


@pytest.fixture
def prefix() -> str:
    """A KV prefix of this test's own, so tests sharing the server never see each other."""
    return "keymint-test-" + secrets.token_hex(4)


@pytest.fixture
def keymint_token(root: hvac.Client, prefix: str) -> str:
    """A token as keymint runs with: the shipped policy for this test's prefix, nothing else."""
    return create_keymint_token(root, prefix=prefix, policy_name=f"keymint-{prefix}")


@pytest.fixture
def kv(endpoint: VaultEndpoint, keymint_token: str, prefix: str) -> KvStore:
    return KvStore(endpoint.client(keymint_token), prefix=prefix)


@pytest.fixture
def make_token(root: hvac.Client) -> MakeToken:
    """A token carrying a fresh policy with the given HCL rules (plus `default`)."""

    def make(rules: str, ttl: str = "5m") -> str:
        name = "p-" + secrets.token_hex(4)
        root.sys.create_or_update_policy(name, rules)
        token: str = root.auth.token.create(policies=[name], ttl=ttl)["auth"]["client_token"]
        return token

    return make


@pytest.fixture
def second_openbao(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A dev server of this test alone, which the test may seal or stop."""
    mp = start_openbao(tmp_path)
    yield mp
    mp.stop()


@pytest.fixture(scope="session")
def openbao_raft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoCluster]:
    """A one-node raft server set up as a platform team sets one up: `bao operator init`,
    unseal, KV v2 mounted by hand; its root token is the one `init` printed."""
    needs_the_bao_binary()
    cluster = start_openbao_raft(tmp_path_factory.mktemp("bao-raft"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def openbao_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """A dev server on HTTPS with a generated CA; `extra["ca_cert"]` is the CA's PEM file."""
    needs_the_bao_binary()
    work = tmp_path_factory.mktemp("bao-tls")
    port = free_port()
    root_token = secrets.token_urlsafe(18)
    log_path = work / "openbao-tls.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                "-dev-tls",
                f"-dev-tls-cert-dir={work}",
                f"-dev-root-token-id={root_token}",
                f"-dev-listen-address={LOOPBACK}:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={"HOME": str(work), "PATH": "/usr/bin:/bin"},
            start_new_session=True,
        )
    mp = ManagedProcess("openbao-tls", f"https://{LOOPBACK}:{port}", proc, log_path)
    mp.extra.update(root_token=root_token, ca_cert=str(work / "vault-ca.pem"))
    deadline = time.monotonic() + 30
    while True:
        try:
            ca = ssl.create_default_context(cafile=mp.extra["ca_cert"])
            if httpx.get(mp.url + "/v1/sys/health", verify=ca).is_success:
                break
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            mp.stop()
            pytest.fail(f"OpenBao with TLS did not start:\n{mp.log_tail()}")
        time.sleep(0.1)
    yield mp
    mp.stop()
