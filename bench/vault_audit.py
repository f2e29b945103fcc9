"""An OpenBao dev server with a file audit device, and a counter of the Vault calls in its log.

keymint's own metrics count only the calls keymint knows it makes, through its own client. The
audit log is OpenBao's record of every request it served, whoever sent it and whatever client
sent it, so it is the figure to trust for "how many Vault calls does one operation cost".
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from keymint.devstack import (
    LOOPBACK,
    ManagedProcess,
    StackError,
    bao_binary,
    free_port,
    wait_until_ready,
)

AUDIT_DEVICE = "bench"
KV_MOUNT = "secret"
# What keymint asks Vault to decide whether a caller may do something: with the caller's own
# token, so they are Vault calls an operation costs even though keymint's token makes none.
AUTHZ_PATHS = frozenset({"sys/capabilities-self", "auth/token/lookup-self"})
# Long enough that the calls of one keymint operation, which follow each other within
# milliseconds, are all in the log; short enough to keep hundreds of windows quick.
QUIET_S = 0.2
POLL_S = 0.02


def start_openbao_audited(log_dir: Path, *, port: int | None = None) -> ManagedProcess:
    """An in-memory, unsealed OpenBao dev server (KV v2 at `secret/`) whose every request and
    response is written, as JSON lines, to `extra["audit_log"]`.

    The device comes from an `audit "file"` stanza in a config file given beside `-dev`:
    OpenBao 2.7 accepts that in dev mode, whereas `bao audit enable` through the API would also
    need `unsafe_allow_api_audit_creation`.
    """
    port = port or free_port()
    root_token = "dev-" + secrets.token_urlsafe(18)
    log_dir.mkdir(parents=True, exist_ok=True)
    audit_log = (log_dir / "openbao-audit.log").resolve()
    home = log_dir / "bao-home"
    home.mkdir(parents=True, exist_ok=True)
    config = log_dir / "openbao-audit.hcl"
    # json.dumps gives a valid HCL string literal for any path.
    config.write_text(
        f'audit "file" "{AUDIT_DEVICE}" {{\n'
        f"  options {{\n"
        f"    file_path = {json.dumps(str(audit_log))}\n"
        # A list answer's keys are not needed to count calls and would only grow the log.
        f'    elide_list_responses = "true"\n'
        f"  }}\n"
        f"}}\n"
    )
    log_path = log_dir / "openbao.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={root_token}",
                f"-dev-listen-address={LOOPBACK}:{port}",
                f"-config={config}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # The dev server writes the root token to ~/.bao-token: keep it out of the user's home.
            env={**os.environ, "HOME": str(home)},
            start_new_session=True,
        )
    mp = ManagedProcess(
        name="openbao",
        url=f"http://{LOOPBACK}:{port}",
        proc=proc,
        log_path=log_path,
        extra={"root_token": root_token, "audit_log": str(audit_log)},
    )
    wait_until_ready(mp, "/v1/sys/health")
    # A server that ignored the stanza would still start: an empty log would then read as
    # "zero calls", so the device is checked rather than assumed.
    resp = httpx.get(f"{mp.url}/v1/sys/audit", headers={"X-Vault-Token": root_token}, timeout=5)
    if resp.status_code != 200 or f"{AUDIT_DEVICE}/" not in resp.json().get("data", {}):
        mp.stop()
        raise StackError(f"OpenBao started without the file audit device: {resp.text[:200]}")
    return mp


def kind_of(path: str) -> str:
    """`kv` (keymint's records), `auth` (authorising the caller) or `other` (sys/, keymint's
    own token)."""
    if path in AUTHZ_PATHS:
        return "auth"
    if path.startswith(f"{KV_MOUNT}/"):
        return "kv"
    return "other"


@dataclass
class Calls:
    """The Vault requests OpenBao logged in one window; filled in when the window closes."""

    total: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    # "operation path", e.g. "read secret/data/bench-1a2b/leases/bench/0001"
    by_path: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def kv(self) -> int:
        return self.by_kind["kv"]

    @property
    def auth(self) -> int:
        return self.by_kind["auth"]

    @property
    def other(self) -> int:
        return self.by_kind["other"]

    def add(self, path: str, operation: str) -> None:
        self.total += 1
        self.by_kind[kind_of(path)] += 1
        self.by_path[f"{operation} {path}"] += 1


class AuditLog:
    """Counts request entries between two offsets of a file audit device's log."""

    def __init__(self, path: Path, *, quiet_s: float = QUIET_S, poll_s: float = POLL_S) -> None:
        self.path = path
        self.quiet_s = quiet_s
        self.poll_s = poll_s
        self._settled_at = -1

    def offset(self) -> int:
        """The end of the last whole entry: a line OpenBao is still writing is not counted yet."""
        size = self.path.stat().st_size
        if size == 0:
            return 0
        with self.path.open("rb") as f:
            pos = size
            while pos > 0:
                start = max(0, pos - 65536)
                f.seek(start)
                chunk = f.read(pos - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    return start + newline + 1
                pos = start
        return 0

    async def settle(self, timeout_s: float = 30.0) -> int:
        """The offset once the log has not grown for `quiet_s` (and ends on a whole entry)."""
        last = self.path.stat().st_size
        if last == self._settled_at:
            return last  # nothing written since the last quiet spell ended here
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_s)
            now = time.monotonic()
            size = self.path.stat().st_size
            if size != last:
                last, quiet_since = size, now
            elif now - quiet_since >= self.quiet_s and self.offset() == size:
                self._settled_at = size
                return size
            if now > deadline:
                raise TimeoutError(f"Vault audit log still growing after {timeout_s:.0f}s")

    def count(self, start: int, end: int) -> Calls:
        """The request entries (not responses) between two offsets from `offset`/`settle`."""
        calls = Calls()
        with self.path.open("rb") as f:
            f.seek(start)
            data = f.read(end - start)
        for line in data.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("type") != "request":
                continue
            request = entry.get("request") or {}
            calls.add(str(request.get("path", "")), str(request.get("operation", "")))
        return calls

    @asynccontextmanager
    async def window(self, *, settle_first: bool = True) -> AsyncIterator[Calls]:
        """Every Vault call made while the block runs, and until the log is quiet after it.

        With `settle_first`, calls still trickling in from before the block are left out too;
        without it (a log that is never quiet, such as an idle replica's), the window opens at
        once."""
        calls = Calls()
        start = await self.settle() if settle_first else self.offset()
        started = time.monotonic()
        yield calls
        end = await self.settle()
        got = self.count(start, end)
        calls.total, calls.by_kind, calls.by_path = got.total, got.by_kind, got.by_path
        calls.seconds = time.monotonic() - started
