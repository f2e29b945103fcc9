"""`keymint agent`: the key in a file (a sink, as Vault Agent's templates render one), rewritten
atomically at each rotation, for a bot that reads its key from a file. A sidecar keeps the lease
alive and revokes it on SIGTERM; `once` (an init container) mints, writes and leaves."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from keymint.client.lease import log
from keymint.client.protocol import Credentials
from keymint.client.render import Format, render, write_atomic
from keymint.client.supervisor import FORWARDED, handling
from keymint.client.sync import Keymint, Lease


@dataclass
class Agent:
    client: Keymint
    role: str
    sink: Path
    mapping: dict[str, str]
    fmt: Format = "env"
    ttl: str | None = None
    instance_id: str | None = None
    grace_s: float = 30.0
    # The lease thread's rotations and the main thread's first write go through one lock, so
    # the newest key is the one left in the file.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _write(self, credentials: Credentials) -> None:
        with self._lock:
            write_atomic(self.sink, render(credentials, self.fmt, self.mapping))

    def _mint(self) -> Lease:
        lease = self.client.mint(
            self.role,
            ttl=self.ttl,
            instance_id=self.instance_id,
            grace_s=self.grace_s,
            on_rotate=self._write,
        )
        self._write(lease.credentials)
        log.info("lease %s written to %s", lease.lease_id, self.sink)
        return lease

    def once(self) -> Credentials:
        """Mint and write, then leave the lease alone: nobody renews it, so the key lives until
        its TTL (not its max_ttl) unless the bot renews it by the lease id in the file."""
        lease = self._mint()
        lease.detach()
        return lease.credentials

    def run(self) -> None:
        """Keep the sink fresh until SIGTERM or SIGINT (from the main thread), then revoke the
        lease and remove the sink: the key in it is dead."""
        stops: queue.SimpleQueue[int] = queue.SimpleQueue()
        with handling(FORWARDED, stops.put):
            lease = self._mint()
            try:
                signum = stops.get()
                log.info("signal %d: revoking %s", signum, lease.lease_id)
            finally:
                lease.close()
                self.sink.unlink(missing_ok=True)
