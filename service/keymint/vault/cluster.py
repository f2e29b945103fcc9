"""Following the active node of a Vault or OpenBao HA cluster given as several addresses.

keymint decides on what it reads and writes with check-and-set, so it talks to the active node
only. A standby is no substitute: since OpenBao 2.5 a standby answers reads itself from a raft
copy that lags the active node (a record just written reads as absent), forwards writes, and
while no node is active answers writes with a 307 to the lost leader. So, as a load balancer in
front of Vault does, keymint asks each address's `sys/health` (200 only from the active node)
and sends every call to the one that answered 200, until that node fails: refuses connections,
answers 503 (sealed) or 307 (not active after all: a node can report itself active in health
while redirecting writes to itself), or stops being active at the next re-check. Then it asks
again; while no node is active every call fails at once, as an outage (503), never served by a
standby.

A call is sent to the next node only when the failed one cannot have acted on it (connection
refused, 503 or 307). A call that may have reached a node that then died is not repeated: the
caller sees the failure, as with a single server."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from keymint.vault.errors import NoActiveNode

HEALTH_ACTIVE = 200
# Answers of a node that has not acted on the request because it is not the active node: sealed,
# or a standby (or a node that just lost its quorum) pointing elsewhere, even at itself.
NOT_ACTIVE = frozenset({307, 503})
# A node that stops being active without failing (a step-down, a partition) keeps answering as a
# standby; this bounds how long keymint could keep talking to it.
RECHECK_S = 5.0


class ActiveNode:
    """Which of the configured addresses is the active node, asked of each one's `sys/health`."""

    def __init__(self, addrs: Sequence[str], *, probe: requests.Session, timeout_s: float) -> None:
        self.addrs = list(addrs)
        self._probe = probe
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._active: str | None = None
        self._checked_at = float("-inf")

    def current(self) -> str:
        """The active node's address; raises `NoActiveNode` when no address answers as one."""
        asked = time.monotonic()
        with self._lock:
            stale = asked - self._checked_at > RECHECK_S
            # A check finished while this caller waited for the lock is as good as its own.
            if (self._active is None and self._checked_at < asked) or stale:
                self._active = self._find()
                self._checked_at = time.monotonic()
            if self._active is None:
                raise NoActiveNode(f"no active node among {len(self.addrs)} Vault addresses")
            return self._active

    def close(self) -> None:
        self._probe.close()

    def failed(self, addr: str) -> None:
        with self._lock:
            if self._active == addr:
                self._active = None
                self._checked_at = float("-inf")

    def _find(self) -> str | None:
        for addr in self.addrs:
            try:
                health = self._probe.get(f"{addr}/v1/sys/health", timeout=self._timeout_s)
            except requests.RequestException:
                continue
            if health.status_code == HEALTH_ACTIVE:
                return addr
        return None


class FollowActive(requests.Session):
    """A session whose requests, built by hvac on `base`, go to the active node instead."""

    def __init__(self, base: str, nodes: ActiveNode) -> None:
        super().__init__()
        self._base = base
        self._nodes = nodes

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        path = str(url).removeprefix(self._base)
        # A redirect is a node saying it is not the active one: ask the cluster, not the node.
        kwargs["allow_redirects"] = False
        for _ in self._nodes.addrs:
            node = self._nodes.current()
            try:
                resp = super().request(method, node + path, *args, **kwargs)
            except requests.ConnectionError as exc:
                self._nodes.failed(node)
                if not _never_sent(exc):
                    raise
                continue
            if resp.status_code not in NOT_ACTIVE:
                return resp
            self._nodes.failed(node)
        raise NoActiveNode(f"no node of {len(self._nodes.addrs)} Vault addresses acted as active")

    def close(self) -> None:
        super().close()
        self._nodes.close()


def _never_sent(exc: requests.ConnectionError) -> bool:
    """Whether the request failed before any node could read it (no connection was made)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)
