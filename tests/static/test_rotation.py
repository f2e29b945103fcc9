"""Rotation: a new key is published, the old one works through the overlap and is then deleted;
Bybit failing mid-way never leaves a role without a working key or with a key nobody tracks."""

from __future__ import annotations

import asyncio
import time

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError

from keymint.engine.static.rotation import Outcome
from sim.simtools import pybit_from
from stackkit import ADMIN_RULES, BOT_IP, Stack

from .conftest import Replica, api_keys_at_bybit, creds_record, ledger_keys, static_role

RACED = (Outcome.ROTATED, Outcome.SUPERSEDED)


def _balance_ok(stack: Stack, key: dict[str, str]) -> bool:
    session = pybit_from(BOT_IP, stack.sim.url, key["api_key"], key["api_secret"])
    try:
        return bool(session.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0)
    except (FailedRequestError, InvalidRequestError):
        return False


def _create(stack: Stack, name: str = "mm", **overrides: object) -> str:
    admin = stack.token(ADMIN_RULES)
    created = stack.call(
        "PUT", f"/v1/static-roles/{name}", admin, json=static_role(stack, **overrides)
    )
    assert created.status_code == 200, created.text
    return admin


async def test_rotation_keeps_the_old_key_through_the_overlap(
    stack: Stack, replica: Replica
) -> None:
    admin = _create(stack, overlap="10m")
    first = creds_record(stack, "mm")["current"]
    rotated = stack.call("POST", "/v1/rotate-role/mm", admin)
    assert rotated.status_code == 200, rotated.text
    answer = rotated.json()["data"]
    assert "api_secret" not in answer and answer["generation"] == 2

    creds = stack.call("GET", "/v1/static-creds/mm", admin).json()["data"]
    record = creds_record(stack, "mm")
    assert creds["api_key"] == answer["api_key"] == record["current"]["api_key"] != first["api_key"]
    assert creds["api_secret"] == record["current"]["api_secret"]
    assert record["previous"]["api_key"] == first["api_key"]
    assert _balance_ok(stack, record["current"]) and _balance_ok(stack, first)

    rotator = (await replica(stack)).rotator
    assert await rotator.finish_overlaps(now=time.time() + 60) == []
    [ended] = await rotator.finish_overlaps(now=record["previous"]["delete_after"])
    assert ended.outcome == Outcome.PREVIOUS_DELETED and ended.api_key == first["api_key"]
    assert not _balance_ok(stack, first) and _balance_ok(stack, record["current"])
    assert api_keys_at_bybit(stack) == {answer["api_key"]}
    assert ledger_keys(stack) == {record["current"]["key"]}
    assert creds_record(stack, "mm")["previous"] is None


async def test_a_failed_create_keeps_the_current_key_and_backs_off(
    stack: Stack, replica: Replica
) -> None:
    _create(stack)
    before = creds_record(stack, "mm")
    rotator = (await replica(stack)).rotator
    due = before["next_rotation_at"]
    stack.sim.fault("/v5/user/create-sub-api", http_status=503, count=1)

    [failed] = await rotator.rotate_due(now=due)
    assert failed.outcome == Outcome.FAILED and failed.error is not None
    after = creds_record(stack, "mm")
    assert after["current"] == before["current"] and after["generation"] == 1
    assert after["failures"] == 1 and "lost in transit" in after["last_error"]
    assert after["next_rotation_at"] == pytest.approx(due + 30)
    assert _balance_ok(stack, after["current"])

    creates = len(stack.sim.requests("/v5/user/create-sub-api"))
    assert await rotator.rotate_due(now=due + 10) == []
    assert len(stack.sim.requests("/v5/user/create-sub-api")) == creates

    [retried] = await rotator.rotate_due(now=due + 30)
    assert retried.outcome == Outcome.ROTATED
    healed = creds_record(stack, "mm")
    assert healed["failures"] == 0 and healed["last_error"] is None
    assert healed["next_rotation_at"] == pytest.approx(due + 30 + 3600)


async def test_a_failed_delete_keeps_the_previous_key_listed(
    stack: Stack, replica: Replica
) -> None:
    admin = _create(stack)
    assert stack.call("POST", "/v1/rotate-role/mm", admin).status_code == 200
    previous = creds_record(stack, "mm")["previous"]
    rotator = (await replica(stack)).rotator
    stack.sim.fault("/v5/user/delete-sub-api", ret_code=10016, count=4)

    [failed] = await rotator.finish_overlaps(now=previous["delete_after"])
    assert failed.outcome == Outcome.DELETE_FAILED
    kept = creds_record(stack, "mm")["previous"]
    assert kept["api_key"] == previous["api_key"] and kept["delete_failures"] == 1
    assert "retCode 10016" in kept["last_error"]
    assert previous["api_key"] in api_keys_at_bybit(stack)
    assert previous["key"] in ledger_keys(stack)

    stack.sim.clear_faults()
    [deleted] = await rotator.finish_overlaps(now=kept["delete_after"])
    assert deleted.outcome == Outcome.PREVIOUS_DELETED
    assert previous["api_key"] not in api_keys_at_bybit(stack)


async def test_racing_replicas_rotate_once_per_period(stack: Stack, replica: Replica) -> None:
    _create(stack)
    one, two = (await replica(stack)).rotator, (await replica(stack)).rotator
    now = creds_record(stack, "mm")["next_rotation_at"]
    for generation in (2, 3, 4):
        # The first create answers late, so both replicas have read the due rotation and both
        # create a key: the one that publishes second must delete its own.
        stack.sim.fault("/v5/user/create-sub-api", latency_ms=300, count=1)
        first, second = await asyncio.gather(one.rotate_due(now=now), two.rotate_due(now=now))
        raced = [o.outcome for o in [*first, *second] if o.outcome in RACED]
        assert sorted(raced) == [Outcome.ROTATED, Outcome.SUPERSEDED], [*first, *second]
        record = creds_record(stack, "mm")
        assert record["generation"] == generation
        held = {record["current"]["api_key"], record["previous"]["api_key"]}
        assert api_keys_at_bybit(stack) == held
        assert ledger_keys(stack) == {record["current"]["key"], record["previous"]["key"]}
        now = record["next_rotation_at"]


def test_deleting_a_static_role_deletes_its_keys_unless_bybit_refuses(stack: Stack) -> None:
    admin = _create(stack)
    assert stack.call("POST", "/v1/rotate-role/mm", admin).status_code == 200
    assert len(stack.keys_at_bybit()) == 2

    stack.sim.fault("/v5/user/delete-sub-api", ret_code=10005, count=1)
    refused = stack.call("DELETE", "/v1/static-roles/mm", admin)
    assert refused.status_code == 502, refused.text
    assert stack.call("GET", "/v1/static-roles/mm", admin).status_code == 200
    record = creds_record(stack, "mm")
    held = {record["current"]["api_key"], record["previous"]["api_key"]}
    assert api_keys_at_bybit(stack) == held

    assert stack.call("DELETE", "/v1/static-roles/mm", admin).status_code == 204
    assert stack.keys_at_bybit() == [] and ledger_keys(stack) == set()
