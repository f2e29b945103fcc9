"""`keymint dev` (what `make dev` runs): it starts, says where things are, and stops."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import hvac

from keymint.devstack import ManagedProcess, free_port


def test_openbao_dev_server_has_kv_v2(openbao: ManagedProcess) -> None:
    client = hvac.Client(url=openbao.url, token=openbao.extra["root_token"])
    client.secrets.kv.v2.create_or_update_secret(path="probe", secret={"x": "1"})
    read = client.secrets.kv.v2.read_secret_version(path="probe", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"x": "1"}


def test_keymint_dev_starts_seeds_and_stops(tmp_path: Path) -> None:
    vault_port, sim_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "keymint"),
            "dev",
            f"--vault-port={vault_port}",
            f"--sim-port={sim_port}",
            "--subaccounts=2",
            f"--work-dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if "sub-accounts:" in line:
            break
    text = "".join(banner)
    try:
        assert f"http://127.0.0.1:{vault_port}" in text, text
        assert f"http://127.0.0.1:{sim_port}" in text, text
        token = re.search(r"BAO_TOKEN=(\S+)", text)
        assert token is not None, text

        server_time = httpx.get(f"http://127.0.0.1:{sim_port}/v5/market/time").json()
        assert server_time["retCode"] == 0

        state = httpx.get(f"http://127.0.0.1:{sim_port}/__sim__/state").json()
        subs = [a for a in state["accounts"] if not a["isMaster"]]
        assert len(subs) == 2

        vault = hvac.Client(url=f"http://127.0.0.1:{vault_port}", token=token.group(1))
        master = vault.secrets.kv.v2.read_secret_version(
            path="keymint/config/master", raise_on_deleted_version=True
        )["data"]["data"]
        assert set(master) == {"api_key", "api_secret", "master_uid"}
        # The banner shows where the master secret lives, never the secret itself.
        assert master["api_secret"] not in text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    for port in (vault_port, sim_port):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"port {port} still answers after keymint dev stopped")
