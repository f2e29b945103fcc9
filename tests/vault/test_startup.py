"""Start-up as a platform team meets it (issue 11): Vault not there yet, the master credential
missing or refused by Bybit. `keymint serve` runs as a real process; its log is read."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keymint.devstack import ManagedProcess, free_port
from stackkit import BOT_RULES, MakeStack, answers, start_openbao, wait_for

KEYMINT = str(Path(sys.executable).with_name("keymint"))


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [KEYMINT, "serve"],
            env={**os.environ, **env, "KEYMINT_HOST": "127.0.0.1", "KEYMINT_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes] | ManagedProcess]]:
    """Processes to end after the test, and servers (a bao binary or container) to stop."""
    started: list[subprocess.Popen[bytes] | ManagedProcess] = []
    yield started
    for proc in started:
        if not isinstance(proc, subprocess.Popen):
            proc.stop()
        elif proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def test_vault_unreachable_at_start_is_retried_then_named_without_a_traceback(
    tmp_path: Path,
) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "keymint.log"
    proc, _ = serve(
        {
            "KEYMINT_VAULT_ADDR": address,
            "KEYMINT_VAULT_TOKEN": "s." + secrets.token_urlsafe(18),
            "KEYMINT_VAULT_START_TIMEOUT_S": "2",
        },
        log,
    )
    assert proc.wait(timeout=60) == 3
    text = log.read_text()
    assert text.count('"vault_unreachable_at_start"') >= 2
    assert f"Vault at {address} (KEYMINT_VAULT_ADDR) did not answer within 2s" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) < 15


def test_keymint_waits_for_a_vault_that_starts_after_it(
    tmp_path: Path, stopped: list[subprocess.Popen[bytes] | ManagedProcess]
) -> None:
    vault_port, token = free_port(), "dev-" + secrets.token_urlsafe(18)
    proc, url = serve(
        {
            "KEYMINT_VAULT_ADDR": f"http://127.0.0.1:{vault_port}",
            "KEYMINT_VAULT_TOKEN": token,
            "KEYMINT_VAULT_PREFIX": "km-late",
            "KEYMINT_SCHEDULER_ENABLED": "false",
        },
        tmp_path / "keymint.log",
    )
    stopped.append(proc)
    wait_for(
        lambda: '"vault_unreachable_at_start"' in (tmp_path / "keymint.log").read_text(),
        timeout_s=30,
    )
    stopped.append(start_openbao(tmp_path, port=vault_port, root_token=token))
    wait_for(lambda: answers(url + "/healthz", 200), timeout_s=30)
    assert proc.poll() is None


def test_a_missing_master_credential_names_its_kv_path_and_fields(make_stack: MakeStack) -> None:
    stack = make_stack(master_refresh_s=0.1)
    stack.vault.secrets.kv.v2.create_or_update_secret(
        path=f"{stack.prefix}/config/master", secret={"api_key": stack.master.api_key}
    )
    expected = (
        f"the Bybit master credential is not configured: KV path "
        f"'secret/{stack.prefix}/config/master' lacks api_secret, master_uid "
        "(expected fields: api_key, api_secret, master_uid)"
    )
    health = stack.call("GET", "/v1/sys/health")
    assert health.status_code == 503 and health.json() == {"errors": [expected]}
    wait_for(
        lambda: (
            stack.call("POST", "/v1/creds/spot-trader", stack.token(BOT_RULES)).status_code == 503
        ),
        timeout_s=30,
    )
    minted = stack.call("POST", "/v1/creds/spot-trader", stack.token(BOT_RULES))
    assert minted.json() == {"errors": [expected]}


def test_a_master_key_bybit_refuses_fails_readiness_and_warns_with_the_ret_code(
    make_stack: MakeStack, tmp_path: Path, stopped: list[subprocess.Popen[bytes] | ManagedProcess]
) -> None:
    stack = make_stack(scheduler_enabled=False)
    wrong = secrets.token_hex(18)
    stack.write_master("X" * 18, wrong)
    log = tmp_path / "keymint.log"
    checks = {"KEYMINT_MASTER_KEY_CHECK_S": "0.5", "KEYMINT_SCHEDULER_ENABLED": "true"}
    proc, url = serve({**stack.env, **checks}, log)
    stopped.append(proc)
    wait_for(lambda: answers(url + "/v1/sys/health", 503), timeout_s=30)
    errors = httpx.get(url + "/v1/sys/health").json()["errors"]
    assert errors[0].startswith("the Bybit master credential is failing: Bybit refused it")
    assert "retCode 10003" in errors[0]
    # Warned at start and again at each check, with Bybit's code; never the secret.
    wait_for(lambda: log.read_text().count('"master_credential_failing"') >= 2, timeout_s=30)
    warnings = [
        line for line in log.read_text().splitlines() if "master_credential_failing" in line
    ]
    assert all('"level": "warning"' in line and "retCode 10003" in line for line in warnings)
    assert wrong not in log.read_text()
    stack.write_master(stack.master.api_key, stack.master.api_secret)
    wait_for(lambda: answers(url + "/v1/sys/health", 200), timeout_s=30)
