"""The background jobs, on APScheduler, run only by the replica that holds the leader lock.

Every replica runs the scheduler so the lock is contested continuously; each job checks
leadership when it fires and the long ones check again between items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from keymint.engine.leader import LeaderLock

log = structlog.get_logger(__name__)

JobFn = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    id: str
    every_s: float
    run: JobFn
    # Jitter spreads replicas and jobs; a missed run within the grace still runs once.
    jitter_s: float = 1.0
    misfire_grace_s: float = 300.0
    # Jobs that act on Vault or Bybit run on the leader only; read-only ones run everywhere.
    leader_only: bool = True


async def _ignore(is_leader: bool) -> None:
    """The default leadership hook."""


class Scheduler:
    def __init__(
        self,
        leader: LeaderLock,
        jobs: list[Job],
        *,
        on_leadership: Callable[[bool], Awaitable[None]] = _ignore,
    ) -> None:
        self.leader = leader
        self._jobs = jobs
        self._on_leadership = on_leadership
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        now = datetime.now(UTC)
        renew_every = max(0.5, self.leader.lease_s / 3)
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=renew_every,
            id="leader-lock",
            next_run_time=now,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(renew_every) + 1,
        )
        for job in self._jobs:
            self._scheduler.add_job(
                self._guarded(job),
                "interval",
                seconds=job.every_s,
                id=job.id,
                jitter=job.jitter_s,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(job.misfire_grace_s),
            )
        self._scheduler.start()
        log.info("scheduler_started", jobs=[j.id for j in self._jobs], holder=self.leader.holder)

    async def _tick(self) -> None:
        await self._on_leadership(await self.leader.tick())

    def _guarded(self, job: Job) -> JobFn:
        async def run() -> None:
            if job.leader_only and not self.leader.is_leader:
                return
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed pass must not kill the schedule
                log.error("job_failed", job=job.id, error_class=type(exc).__name__)

        return run

    async def stop(self) -> None:
        self._scheduler.shutdown(wait=False)
        await self.leader.release()
