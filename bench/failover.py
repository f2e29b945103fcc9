"""A failover drill against a 3-node OpenBao raft cluster, for the HA test and `make bench`.

Bots mint (and revoke what they got) through keymint's HTTP API without pause while the drill
SIGKILLs the active node, waits for a successor and for mints to succeed again, restarts the
killed node, then seals the new active node the same way. A watcher polls every node's
`sys/health` meanwhile, and every answer, bot's or watcher's, carries the monotonic times at
which its request was sent and its answer received.

When no node is active. A node's `sys/health` answers 200 only while it is the active node,
and during one outage a node goes from standby to active at most once (the watcher's answers
are checked for this). So a survivor's non-200 answer to a request sent at `t` proves that it
was not active at any time from the outage's start up to `t`; the outage is known to last from
the moment the active node was surely gone (killed and reaped, or its seal answered) to the
earliest such `t` of the survivor that became active. Unanswered polls prove nothing and are
ignored. A mint whose request was sent and answered inside that window had no active node to
write to for its whole life.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from keymint.devstack import HEALTH_ACTIVE, ManagedProcess, OpenBaoCluster


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its request's send time, its arrival, and what came back."""

    sent: float
    received: float
    status: int  # 0: no HTTP answer at all
    body: Any = None
    node: str = ""


class HealthWatch:
    """Every node's `sys/health`, polled from a thread until stopped."""

    def __init__(self, cluster: OpenBaoCluster, *, every_s: float = 0.02) -> None:
        self._cluster = cluster
        self._every_s = every_s
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=1.0) as http:
            while not self._stop.is_set():
                for node in self._cluster.nodes:
                    sent = time.monotonic()
                    try:
                        status = http.get(node.url + "/v1/sys/health").status_code
                    except httpx.HTTPError:
                        status = 0
                    self.answers.append(Answer(sent, time.monotonic(), status, node=node.name))
                self._stop.wait(self._every_s)

    def outage(self, start: float, until: float, survivors: list[ManagedProcess]) -> Outage:
        """The window from `start` in which no survivor was active (see the module's note),
        from the answers to polls sent before `until`."""
        ends: list[float] = []
        elected: list[tuple[float, str]] = []
        for node in survivors:
            seen = [
                a
                for a in self.answers
                if a.node == node.name and start <= a.sent < until and a.status != 0
            ]
            first = next((i for i, a in enumerate(seen) if a.status == HEALTH_ACTIVE), None)
            if first is None:
                ends.append(seen[-1].sent if seen else start)
                continue
            if any(a.status != HEALTH_ACTIVE for a in seen[first:]):
                raise AssertionError(f"{node.name} was active, then not, in one outage")
            ends.append(seen[first - 1].sent if first else start)
            elected.append((seen[first].received, node.name))
        if not elected:
            raise AssertionError("no survivor answered as active")
        seen_at, name = min(elected)
        return Outage(start=start, end=max(start, min(ends)), elected_seen=seen_at, new_active=name)


@dataclass(frozen=True)
class Outage:
    start: float  # the active node surely gone
    end: float  # no survivor active before this
    elected_seen: float  # the first answer of a new active node's health arrived
    new_active: str


class MintLoops:
    """`bots` threads that each mint on `role` and revoke what they got, without pause but a
    short one after a failure (two cores: a tight loop of refusals would slow the election)."""

    def __init__(self, url: str, role: str, token: str, *, bots: int = 3) -> None:
        self._url = url
        self._role = role
        self._headers = {"X-Vault-Token": token}
        self.mints: list[Answer] = []
        self.revokes: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"bot-{i}", daemon=True) for i in range(bots)
        ]

    def __enter__(self) -> MintLoops:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def succeeded_after(self, t: float) -> int:
        return sum(1 for a in self.mints if a.status == 200 and a.received > t)

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, headers=self._headers, timeout=60) as http:
            while not self._stop.is_set():
                minted = _timed(partial(http.post, f"/v1/creds/{self._role}"))
                self.mints.append(minted)
                if minted.status == 200:
                    lease = minted.body["lease_id"]
                    self.revokes.append(_timed(partial(http.delete, f"/v1/leases/{lease}")))
                else:
                    self._stop.wait(0.02)


def _timed(send: Callable[[], httpx.Response]) -> Answer:
    sent = time.monotonic()
    try:
        resp = send()
    except httpx.HTTPError as exc:
        return Answer(sent, time.monotonic(), 0, type(exc).__name__)
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    return Answer(sent, time.monotonic(), resp.status_code, body)


@dataclass
class Phase:
    """One lost active node: how, the outage it caused, and the bots' answers meanwhile."""

    how: str
    outage: Outage
    mints: list[Answer] = field(default_factory=list)

    @property
    def inside(self) -> list[Answer]:
        """Mints sent and answered while no node was active."""
        return [
            m for m in self.mints if self.outage.start <= m.sent and m.received <= self.outage.end
        ]

    @property
    def first_mint(self) -> Answer:
        return min(
            (m for m in self.mints if m.status == 200 and m.received > self.outage.end),
            key=lambda m: m.received,
        )

    @property
    def time_to_first_mint_s(self) -> float:
        """From the new active node's health first answering active to the first mint."""
        return self.first_mint.received - self.outage.elected_seen

    @property
    def unavailable_s(self) -> float:
        """From the active node surely gone to the first mint."""
        return self.first_mint.received - self.outage.start


def drill(
    cluster: OpenBaoCluster,
    loops: MintLoops,
    watch: HealthWatch,
    *,
    mints_after: int = 5,
    timeout_s: float = 90.0,
) -> list[Phase]:
    """Kill the active node, then (the killed node back) seal its successor; each phase ends
    once `mints_after` mints succeeded after the cluster settled again."""

    def mints_resume(after: float) -> None:
        deadline = time.monotonic() + timeout_s
        while loops.succeeded_after(after) < mints_after:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {mints_after} mints after the failover")
            time.sleep(0.05)

    mints_resume(float("-inf"))  # minting before the first failure
    phases = []
    for how in ("kill", "seal"):
        active = cluster.wait_until_settled()
        survivors = [n for n in cluster.nodes if n is not active]
        if how == "kill":
            cluster.kill(active)
        else:
            cluster.seal(active)
        start = time.monotonic()
        settled = cluster.wait_until_settled(timeout_s)
        mints_resume(time.monotonic())
        until = time.monotonic()
        outage = watch.outage(start, until, survivors)
        if outage.new_active != settled.name:
            raise AssertionError(f"{outage.new_active} became active, then {settled.name}")
        mints = [m for m in loops.mints if m.received >= start and m.sent < until]
        phases.append(Phase(how, outage, mints))
        if how == "kill":
            cluster.restart(active)
        else:
            cluster.unseal(active)
    cluster.wait_until_settled(timeout_s)
    return phases
