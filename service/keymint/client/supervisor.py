"""`keymint exec`: the bot runs as a child process with its key in its environment, as in Vault
Agent's process supervisor mode. The supervisor renews the lease while the child runs; before
max_ttl, or when the lease is revoked underneath, it restarts the child with a new key, or writes
the new key to a file and signals the child; it forwards SIGTERM and SIGINT, revokes at exit and
exits with the child's code."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keymint.client.lease import log
from keymint.client.protocol import Credentials
from keymint.client.render import Format, environment, render, write_atomic
from keymint.client.sync import Keymint

FORWARDED = (signal.SIGTERM, signal.SIGINT)
# The child gets a key, not the token that mints keys.
WITHHELD = ("VAULT_TOKEN", "BAO_TOKEN", "KEYMINT_APPROLE_SECRET_ID")
CREDS_FILE_VAR = "KEYMINT_CREDS_FILE"


class CommandFailed(Exception):
    """The child could not be started (no such program, not executable)."""


@dataclass(frozen=True)
class RotateMode:
    """`restart`, or `signal:NAME`: the new key goes to the credentials file and the child gets
    the signal instead."""

    signal: signal.Signals | None = None

    @classmethod
    def parse(cls, text: str) -> RotateMode:
        if text == "restart":
            return cls()
        kind, _, name = text.partition(":")
        name = name.upper()
        if kind == "signal" and name:
            try:
                return cls(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
            except KeyError:
                pass
        raise ValueError(f"--on-rotate {text!r}: expected restart or signal:NAME (signal:HUP)")


@dataclass(frozen=True)
class Signalled:
    signum: int


@dataclass(frozen=True)
class Exited:
    child: subprocess.Popen[bytes]
    code: int


@dataclass(frozen=True)
class Rotated:
    credentials: Credentials


Event = Signalled | Exited | Rotated


@contextlib.contextmanager
def handling(signums: Sequence[int], handler: Callable[[int], None]) -> Iterator[None]:
    """`handler(signum)` for these signals while the block runs; the old handlers after."""
    previous = {s: signal.signal(s, lambda signum, _frame: handler(signum)) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def exit_code(returncode: int) -> int:
    # A child killed by signal N exits the supervisor with 128 + N, as a shell reports it.
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Supervisor:
    client: Keymint
    role: str
    command: Sequence[str]
    mapping: dict[str, str]
    ttl: str | None = None
    instance_id: str | None = None
    on_rotate: RotateMode = field(default_factory=RotateMode)
    creds_file: Path | None = None
    creds_format: Format = "json"
    grace_s: float = 30.0
    stop_timeout_s: float = 10.0
    # Signal handlers put here and nothing else: SimpleQueue.put is safe in a signal handler.
    events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)

    def __post_init__(self) -> None:
        if self.on_rotate.signal is not None and self.creds_file is None:
            raise ValueError("signalling the child on rotation needs a creds_file")

    def run(self) -> int:
        """Runs the child to its end (from the main thread: signals); its exit code."""
        lease = self.client.mint(
            self.role,
            ttl=self.ttl,
            instance_id=self.instance_id,
            grace_s=self.grace_s,
            on_rotate=lambda credentials: self.events.put(Rotated(credentials)),
        )
        try:
            with handling(FORWARDED, lambda signum: self.events.put(Signalled(signum))):
                return self._supervise(self._start(lease.credentials))
        finally:
            lease.close()

    def _write(self, credentials: Credentials) -> None:
        if self.creds_file is not None:
            write_atomic(self.creds_file, render(credentials, self.creds_format, self.mapping))

    def _start(self, credentials: Credentials) -> subprocess.Popen[bytes]:
        self._write(credentials)
        env = {k: v for k, v in os.environ.items() if k not in WITHHELD}
        env.update(environment(credentials, self.mapping))
        if self.creds_file is not None:
            env[CREDS_FILE_VAR] = str(self.creds_file)
        try:
            # Its own process group: a terminal's Ctrl-C reaches the child once, through us.
            child = subprocess.Popen(self.command, env=env, process_group=0)
        except OSError as exc:
            raise CommandFailed(f"cannot run {self.command[0]!r}: {exc.strerror}") from None
        threading.Thread(
            target=lambda: self.events.put(Exited(child, child.wait())), daemon=True
        ).start()
        log.info(
            "started %s (pid %d) with lease %s", self.command[0], child.pid, credentials.lease_id
        )
        return child

    def _supervise(self, child: subprocess.Popen[bytes]) -> int:
        # The key the next child starts with, once the current one has stopped.
        pending: Credentials | None = None
        stopping = False
        kill_at: float | None = None
        while True:
            timeout = None if kill_at is None else max(0.0, kill_at - time.monotonic())
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                log.warning("pid %d did not stop in %.0fs: killed", child.pid, self.stop_timeout_s)
                child.kill()
                kill_at = None
                continue
            match event:
                case Signalled(signum):
                    stopping = True
                    if child.poll() is None:
                        child.send_signal(signum)
                case Exited(exited, code) if exited is child:
                    if pending is None or stopping:
                        return exit_code(code)
                    child, pending, kill_at = self._start(pending), None, None
                case Rotated(credentials) if not stopping:
                    if self.on_rotate.signal is None:
                        if pending is None:
                            child.terminate()
                            kill_at = time.monotonic() + self.stop_timeout_s
                        pending = credentials
                    else:
                        self._write(credentials)
                        if child.poll() is None:
                            child.send_signal(self.on_rotate.signal)
