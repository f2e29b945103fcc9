"""The lease's timetable, on an injected clock: no server needed for when things happen."""

from __future__ import annotations

from keymint.client.lease import LeasePlan
from keymint.client.protocol import Credentials, LeaseTimes, MintSpec


def plan(*, ttl_s: float, max_left_s: float, grace_s: float = 30.0) -> LeasePlan:
    now = [1000.0]
    credentials = Credentials("K" * 18, "s" * 36, 1, "keymint/creds/r/1-" + "a" * 24)
    made = LeasePlan(MintSpec("r"), credentials, clock=lambda: now[0], grace_s=grace_s)
    made.start(LeaseTimes(ttl_s, max_left_s))
    return made


def test_rotation_leads_max_ttl_by_the_grace_and_a_third_of_the_ttl() -> None:
    long = plan(ttl_s=3600, max_left_s=86400)
    assert long.rotate_at() == 1000 + 86400 - (30 + 60)


def test_a_lease_shorter_than_the_lead_still_serves_half_its_life() -> None:
    # grace 30 s + 2 s ahead of a 7 s max_ttl would rotate at once, and again, forever.
    short = plan(ttl_s=6, max_left_s=7)
    assert short.rotate_at() == 1000 + 3.5
