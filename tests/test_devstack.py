"""`keymint dev` (what `make dev` runs): it starts, says where things are, and stops."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import hvac

from keymint.devstack import ManagedProcess, free_port
from keymint.own_vault_policy import render_policy
from stackkit import wait_for


def test_openbao_dev_server_has_kv_v2(openbao: ManagedProcess) -> None:
    client = hvac.Client(url=openbao.url, token=openbao.extra["root_token"])
    client.secrets.kv.v2.create_or_update_secret(path="probe", secret={"x": "1"})
    read = client.secrets.kv.v2.read_secret_version(path="probe", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"x": "1"}


def _read_banner(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if "__sim__/state" in line:
            break
    return "".join(banner)


def test_keymint_dev_starts_prints_a_working_mint_command_and_stops(tmp_path: Path) -> None:
    ports = {"vault": free_port(), "sim": free_port(), "keymint": free_port()}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "keymint"),
            "dev",
            f"--vault-port={ports['vault']}",
            f"--sim-port={ports['sim']}",
            f"--keymint-port={ports['keymint']}",
            "--subaccounts=3",
            f"--work-dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    text = _read_banner(proc)
    try:
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in text, text
        bot_token = re.search(r"export BOT_TOKEN=(\S+)", text)
        root_token = re.search(r"BAO_TOKEN=(\S+)", text)
        command = re.search(r"^\s+(curl -s -X POST .*/v1/creds/spot-trader)$", text, re.M)
        assert bot_token and root_token and command, text

        # The printed command, as a user would paste it after the export.
        argv = shlex.split(command.group(1).replace("$BOT_TOKEN", bot_token.group(1)))
        minted = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        body = httpx.Response(200, content=minted.stdout).json()
        assert body["lease_id"].startswith("keymint/creds/spot-trader/"), minted.stdout
        assert len(body["data"]["api_secret"]) == 36

        def keymints_keys() -> list[str]:
            state = httpx.get(f"http://127.0.0.1:{ports['sim']}/__sim__/state").json()
            assert len([a for a in state["accounts"] if not a["isMaster"]]) == 3
            return [k["apiKey"] for k in state["keys"] if k["note"].startswith("keymint:")]

        assert body["data"]["api_key"] in keymints_keys()
        # spot-trader's warm pool: three keys made ahead besides the one handed out.
        wait_for(lambda: len(keymints_keys()) == 4, 30)

        vault = hvac.Client(url=f"http://127.0.0.1:{ports['vault']}", token=root_token.group(1))
        master = vault.secrets.kv.v2.read_secret_version(
            path="keymint/config/master", raise_on_deleted_version=True
        )["data"]["data"]
        assert set(master) == {"api_key", "api_secret", "master_uid"}
        # The banner says where the master secret lives, never the secret itself.
        assert master["api_secret"] not in text

        # keymint runs with its shipped policy alone, not root: revoking that token stops it.
        (own,) = [
            accessor
            for accessor in vault.list("auth/token/accessors")["data"]["keys"]
            if vault.auth.token.lookup_accessor(accessor)["data"]["display_name"] == "token-keymint"
        ]
        assert vault.auth.token.lookup_accessor(own)["data"]["policies"] == ["keymint"]
        assert vault.sys.read_policy("keymint")["data"]["rules"] == render_policy()
        vault.auth.token.revoke_accessor(own)
        refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        assert "keymint's own token" in refused.stdout, refused.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, text
    for port in ports.values():
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"port {port} still answers after keymint dev stopped")
