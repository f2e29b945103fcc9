"""keymint served for real: uvicorn on a loopback port, against OpenBao and the simulator."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
import uvicorn
import yaml
from pydantic import SecretStr

from bybit_sim.control_client import SeededMaster, SimControl
from keymint.app import create_app
from keymint.devstack import ManagedProcess, free_port
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


@pytest.fixture
def make_stack(openbao: ManagedProcess, sim: SimControl, tmp_path: Path) -> Iterator[MakeStack]:
    servers: list[ServerThread] = []
    clients: list[httpx.Client] = []

    def make(*, vault: ManagedProcess | None = None, **overrides: Any) -> Stack:
        bao = vault or openbao
        root = hvac.Client(url=bao.url, token=bao.extra["root_token"])
        prefix = "km-" + secrets.token_hex(4)
        master = sim.seed(subaccounts=2, master_ips=[BOT_IP])
        roles_file = tmp_path / f"roles-{prefix}.yaml"
        roles_file.write_text(yaml.safe_dump(example_roles([int(s) for s in master.subaccounts])))
        root.secrets.kv.v2.create_or_update_secret(
            path=f"{prefix}/config/master",
            secret={
                "api_key": master.api_key,
                "api_secret": master.api_secret,
                "master_uid": master.master_uid,
            },
        )
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            vault_addr=bao.url,
            vault_token=SecretStr(bao.extra["root_token"]),
            vault_prefix=prefix,
            roles_file=roles_file,
            bybit_base_url=sim.url,
            bybit_rate_limit_scale=50.0,
            authz_cache_ttl_s=0.0,
            **overrides,
        )
        server = ServerThread(settings)
        servers.append(server)
        http = httpx.Client(base_url=server.url, timeout=30)
        clients.append(http)
        sim.configure(rate_limit_scale=50.0)
        return Stack(server.url, root, prefix, sim, master, http)

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def stack(make_stack: MakeStack) -> Stack:
    return make_stack()
