"""`keymint exec`, `agent` and the one-shot commands run as real processes, and a child bot that
writes down what it was given and what it received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from client.support import bot_rules
from stackkit import Stack

KEYMINT = str(Path(sys.executable).with_name("keymint"))

# The child: one JSON line per event into the file named by its first argument. It stops on
# SIGTERM with code 42 (so a propagated code is told apart from keymint's own), and with
# `exit N` as its second argument it stops by itself.
CHILD = """
import json, os, signal, sys, time

out = sys.argv[1]

def note(event, **more):
    with open(out, "a") as f:
        f.write(json.dumps({"event": event, "pid": os.getpid(), **more}) + "\\n")

def on_term(signum, frame):
    note("term")
    sys.exit(42)

def on_hup(signum, frame):
    with open(os.environ["KEYMINT_CREDS_FILE"]) as f:
        note("hup", key=json.load(f)["api_key"])

signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGHUP, on_hup)
given = ("BYBIT_", "KEYMINT_", "VAULT_")
note("start", env={k: v for k, v in os.environ.items() if k.startswith(given)})
if sys.argv[2:3] == ["exit"]:
    sys.exit(int(sys.argv[3]))
while True:
    time.sleep(3600)
"""


def bot_env(stack: Stack, role: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "KEYMINT_"))}
    return {**env, "KEYMINT_ADDR": stack.url, "VAULT_TOKEN": stack.token(bot_rules(role)), **extra}


def child_command(tmp_path: Path, *args: str) -> tuple[list[str], Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "child.jsonl"
    return [sys.executable, str(script), str(out), *args], out


def records(out: Path, event: str | None = None) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]
    return [r for r in lines if event is None or r["event"] == event]


def keymint(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KEYMINT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_keymint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KEYMINT, *args], env=env, capture_output=True, text=True, timeout=60)
