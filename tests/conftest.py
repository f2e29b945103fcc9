"""Servers shared by the whole suite: real processes on loopback, started by keymint.devstack,
and keymint itself served against them (`make_stack`, `stack`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from pydantic import SecretStr

from bybit_sim.control_client import SimControl
from keymint.devstack import ManagedProcess, start_simulator
from keymint.own_vault_policy import create_keymint_token
from keymint.settings import Settings
from stackkit import MakeStack, ServerThread, Stack, example_roles, seed_deployment, start_openbao


@pytest.fixture(scope="session")
def stack_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def openbao(stack_logs: Path) -> Iterator[ManagedProcess]:
    mp = start_openbao(stack_logs)
    yield mp
    mp.stop()


@pytest.fixture(scope="session")
def sim_server(stack_logs: Path) -> Iterator[ManagedProcess]:
    """One Bybit simulator (`bybit-sim`) for the session, started as `keymint dev` starts it."""
    mp = start_simulator(stack_logs, extra_args=("--log-level", "warning"))
    yield mp
    mp.stop()


@pytest.fixture
def sim(sim_server: ManagedProcess) -> Iterator[SimControl]:
    """The simulator's control surface, after a reset: no accounts, faults or requests; clock and
    config at their start-up values."""
    with SimControl(sim_server.url) as control:
        control.reset()
        yield control


@pytest.fixture
def make_stack(openbao: ManagedProcess, sim: SimControl, tmp_path: Path) -> Iterator[MakeStack]:
    servers: list[ServerThread] = []
    clients: list[httpx.Client] = []

    def make(
        *,
        vault: ManagedProcess | None = None,
        same_as: Stack | None = None,
        roles: Callable[[list[int]], dict[str, Any]] = example_roles,
        subaccounts: int = 2,
        **overrides: Any,
    ) -> Stack:
        """A keymint on its own prefix and master, or (`same_as`) another replica of one."""
        bao = vault or openbao
        root = hvac.Client(url=bao.url, token=bao.extra["root_token"])
        if same_as is not None:
            prefix, master, roles_file = same_as.prefix, same_as.master, same_as.roles_file
        else:
            prefix = "km-" + secrets.token_hex(4)
            roles_file = tmp_path / f"roles-{prefix}.yaml"
            master = seed_deployment(
                root,
                sim,
                prefix=prefix,
                roles_file=roles_file,
                roles=roles,
                subaccounts=subaccounts,
            )
        # Root sets up; keymint itself runs with the shipped policy alone.
        keymint_token = create_keymint_token(root, prefix=prefix, policy_name=f"keymint-{prefix}")
        fields: dict[str, Any] = {
            "vault_addr": bao.url,
            "vault_token": keymint_token,
            "vault_prefix": prefix,
            "roles_file": str(roles_file),
            "bybit_base_url": sim.url,
            "bybit_rate_limit_scale": 50.0,
            "authz_cache_ttl_s": 0.0,
            **overrides,
        }
        env = {f"KEYMINT_{k.upper()}": str(v) for k, v in fields.items()}
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{**fields, "vault_token": SecretStr(fields["vault_token"])},
        )
        server = ServerThread(settings)
        servers.append(server)
        http = httpx.Client(base_url=server.url, timeout=30)
        clients.append(http)
        sim.configure(rate_limit_scale=fields["bybit_rate_limit_scale"])
        return Stack(
            server.url, root, prefix, sim, master, http, roles_file, env, server, keymint_token
        )

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def stack(make_stack: MakeStack) -> Stack:
    return make_stack()
