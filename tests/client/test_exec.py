"""`keymint exec`: the child runs with a working key, is restarted (or signalled) with a new
one before max_ttl, gets keymint's SIGTERM, and its exit code; the key is revoked at exit."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

from client.procs import bot_env, child_command, keymint, records, run_keymint
from client.support import api_keys_at_bybit, fast_roles
from stackkit import MakeStack, Stack, roles_of, wait_for


def test_the_child_gets_a_working_key_and_sigterm_and_its_code_and_the_key_dies(
    stack: Stack, tmp_path: Path
) -> None:
    command, out = child_command(tmp_path)
    proc = keymint(
        "exec", "--role", "spot-trader", "--", *command, env=bot_env(stack, "spot-trader")
    )
    wait_for(lambda: len(records(out, "start")) == 1, 30)
    env = records(out, "start")[0]["env"]
    key = env["BYBIT_API_KEY"]
    assert key in api_keys_at_bybit(stack)
    assert env["BYBIT_API_SECRET"] and env["KEYMINT_LEASE_ID"].startswith(
        "keymint/creds/spot-trader/"
    )
    # The child holds a key, not the token that mints them.
    assert "VAULT_TOKEN" not in env
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42
    assert [r["event"] for r in records(out)] == ["start", "term"]
    assert key not in api_keys_at_bybit(stack)


def test_a_child_that_stops_by_itself_gives_its_code_and_a_chosen_mapping(
    stack: Stack, tmp_path: Path
) -> None:
    command, out = child_command(tmp_path, "exit", "7")
    done = run_keymint(
        "exec", "--role", "spot-trader",
        "--env", "BYBIT_KEY=api_key", "--env", "BYBIT_UID=subaccount_uid",
        "--", *command, env=bot_env(stack, "spot-trader"),
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    (start,) = records(out, "start")
    assert start["env"]["BYBIT_UID"] in stack.master.subaccounts
    assert "BYBIT_API_KEY" not in start["env"]
    assert start["env"]["BYBIT_KEY"] not in api_keys_at_bybit(stack)


def test_before_max_ttl_the_child_is_restarted_with_a_new_key(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(roles=fast_roles())
    command, out = child_command(tmp_path)
    proc = keymint(
        "exec", "--role", "fast", "--grace", "1", "--", *command, env=bot_env(stack, "fast")
    )
    wait_for(lambda: len(records(out, "start")) >= 2, 30)
    first, second = records(out, "start")[:2]
    assert first["pid"] != second["pid"]
    assert records(out)[1] == {"event": "term", "pid": first["pid"]}
    old, new = first["env"]["BYBIT_API_KEY"], second["env"]["BYBIT_API_KEY"]
    assert old != new
    wait_for(lambda: old not in api_keys_at_bybit(stack), 15)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42
    held = {r["env"]["BYBIT_API_KEY"] for r in records(out, "start")}
    wait_for(lambda: not held & api_keys_at_bybit(stack), 15)


def test_with_signal_hup_the_new_key_goes_to_the_file_and_the_child_is_signalled(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(roles=fast_roles())
    command, out = child_command(tmp_path)
    creds = tmp_path / "creds.json"
    proc = keymint(
        "exec", "--role", "fast", "--grace", "1", "--on-rotate", "signal:HUP",
        "--creds-file", str(creds), "--", *command, env=bot_env(stack, "fast"),
    )  # fmt: skip
    wait_for(lambda: len(records(out, "hup")) >= 1, 30)
    (start,) = records(out, "start")
    hup = records(out, "hup")[0]
    assert hup["pid"] == start["pid"]
    assert hup["key"] != start["env"]["BYBIT_API_KEY"]
    assert start["env"]["KEYMINT_CREDS_FILE"] == str(creds)
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert hup["key"] in api_keys_at_bybit(stack)
    proc.send_signal(signal.SIGINT)
    # SIGINT is forwarded too: Python ends by SIGINT itself after an uncaught KeyboardInterrupt,
    # which keymint reports as a shell does, 128 + 2.
    assert proc.wait(timeout=30) == 130
    assert hup["key"] not in api_keys_at_bybit(stack)


def test_a_lease_revoked_underneath_restarts_the_child(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(roles=roles_of(fast={"ttl": 2, "max_ttl": 600}))
    command, out = child_command(tmp_path)
    env = bot_env(stack, "fast")
    proc = keymint("exec", "--role", "fast", "--", *command, env=env)
    wait_for(lambda: len(records(out, "start")) == 1, 30)
    lease_id = records(out, "start")[0]["env"]["KEYMINT_LEASE_ID"]
    assert run_keymint("lease", "revoke", lease_id, env=env).returncode == 0
    wait_for(lambda: len(records(out, "start")) == 2, 30)
    assert records(out, "start")[1]["env"]["KEYMINT_LEASE_ID"] != lease_id
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42


def test_signal_mode_without_a_file_and_a_missing_program_are_refused(
    stack: Stack, tmp_path: Path
) -> None:
    env = bot_env(stack, "spot-trader")
    refused = run_keymint(
        "exec", "--role", "spot-trader", "--on-rotate", "signal:HUP", "--", "true", env=env
    )
    assert refused.returncode == 2 and "--creds-file" in refused.stderr
    missing = run_keymint("exec", "--role", "spot-trader", "--", str(tmp_path / "nope"), env=env)
    assert missing.returncode == 127 and "cannot run" in missing.stderr
    # The key minted for it is revoked all the same.
    wait_for(lambda: not api_keys_at_bybit(stack), 15)
