"""`keymint agent`: the sink is 0600 and always whole, rewritten at each rotation; SIGTERM
revokes the key; `--once` writes and leaves the lease to its TTL."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

from client.procs import bot_env, keymint, run_keymint
from client.support import api_keys_at_bybit, fast_roles
from stackkit import MakeStack, Stack, wait_for

WHOLE = {"BYBIT_API_KEY", "BYBIT_API_SECRET", "KEYMINT_LEASE_ID"}


def read_env(sink: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in sink.read_text().splitlines())
    return {name: value for name, value in pairs}


def test_the_sink_is_whole_at_every_read_through_rotations_and_sigterm_revokes(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(roles=fast_roles())
    sink = tmp_path / "sink" / "creds.env"
    sink.parent.mkdir()
    proc = keymint("agent", "--role", "fast", "--sink", str(sink), "--grace", "1",
                   env=bot_env(stack, "fast"))  # fmt: skip
    wait_for(sink.exists, 30)
    assert stat.S_IMODE(os.stat(sink).st_mode) == 0o600
    first = read_env(sink)
    assert first.keys() == WHOLE and first["BYBIT_API_KEY"] in api_keys_at_bybit(stack)
    # Read in a tight loop through two rotations: never a partial file.
    seen = [first["BYBIT_API_KEY"]]
    deadline = time.monotonic() + 40
    while len(seen) < 3:
        assert time.monotonic() < deadline, "the agent did not rotate twice in time"
        current = read_env(sink)
        assert current.keys() == WHOLE and all(current.values())
        if current["BYBIT_API_KEY"] != seen[-1]:
            seen.append(current["BYBIT_API_KEY"])
    assert stat.S_IMODE(os.stat(sink).st_mode) == 0o600
    assert seen[-1] in api_keys_at_bybit(stack)
    # No temporary file is left behind in the sink's directory.
    assert [p.name for p in sink.parent.iterdir()] == ["creds.env"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not sink.exists()
    wait_for(lambda: not set(seen) & api_keys_at_bybit(stack), 15)


def test_once_writes_json_and_leaves_the_lease_alive(stack: Stack, tmp_path: Path) -> None:
    sink = tmp_path / "creds.json"
    env = bot_env(stack, "spot-trader")
    done = run_keymint("agent", "--role", "spot-trader", "--sink", str(sink), "--format", "json",
                       "--once", "--ttl", "10m", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(sink).st_mode) == 0o600
    creds = json.loads(sink.read_text())
    assert creds["lease_id"].startswith("keymint/creds/spot-trader/")
    assert creds["api_secret"] and creds["subaccount_uid"]
    # Left to its TTL: the key still works after the agent has gone, until it is revoked.
    assert creds["api_key"] in api_keys_at_bybit(stack)
    assert run_keymint("lease", "revoke", creds["lease_id"], env=env).returncode == 0
    assert creds["api_key"] not in api_keys_at_bybit(stack)
