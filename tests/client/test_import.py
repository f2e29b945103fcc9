"""Bots import the client without keymint's server and its dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest

SERVER_ONLY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "hvac",
    "apscheduler",
    "pydantic",
    "pydantic_settings",
    "structlog",
    "prometheus_client",
    "yaml",
    "cryptography",
}


def loaded_by(module: str) -> set[str]:
    """Every module a fresh interpreter holds after importing `module`."""
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module", ["keymint.client", "keymint.client.supervisor", "keymint.client.agent"]
)
def test_importing_the_client_loads_httpx_and_no_server_dependency(module: str) -> None:
    loaded = loaded_by(module)
    tops = {m.split(".")[0] for m in loaded}
    assert "httpx" in tops
    assert tops & SERVER_ONLY == set()
    assert {m for m in loaded if m.startswith("keymint.")} <= {
        m for m in loaded if m.startswith("keymint.client")
    }


@pytest.mark.parametrize("module", ["keymint.client.pybit"])
def test_the_pybit_helper_loads_pybit_but_no_server(module: str) -> None:
    # keymint.bybit.hosts comes with its package, which brings pydantic; pybit brings
    # cryptography (RSA keys). Nothing of the server.
    tops = {m.split(".")[0] for m in loaded_by(module)}
    assert "pybit" in tops
    assert tops & (SERVER_ONLY - {"pydantic", "cryptography"}) == set()


def test_the_command_line_loads_no_server_until_a_server_command_runs() -> None:
    # `keymint exec` and `agent` run in a bot's container: the CLI module itself is click only.
    loaded = loaded_by("keymint.cli")
    assert {m.split(".")[0] for m in loaded} & SERVER_ONLY == set()
    assert {m for m in loaded if m.startswith("keymint")} == {"keymint", "keymint.cli"}
