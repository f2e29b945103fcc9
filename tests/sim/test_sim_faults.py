"""Injected faults: latency, retCode, HTTP status, timeout, dropped connection, counts."""

from __future__ import annotations

import time

import httpx
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from bybit_sim.control_client import SimControl
from sim.simtools import RawClient, World, pybit, raw_control

CREATE_SUB_API = "/v5/user/create-sub-api"
QUERY_API = "/v5/user/query-api"
SPOT_BODY = '{"subuid": %d, "readOnly": 0, "permissions": {"Spot": ["SpotTrade"]}}'


def keys_of(sim: SimControl, uid: int) -> list[dict[str, object]]:
    return [k for k in sim.state()["keys"] if k["uid"] == str(uid)]


def test_latency_delays_the_answer(sim: SimControl, world: World) -> None:
    sim.fault(QUERY_API, latency_ms=400)
    session = pybit(world.url, world.api_key, world.api_secret)
    started = time.monotonic()
    assert session.get_api_key_information()["retCode"] == 0
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    session.get_api_key_information()
    assert time.monotonic() - started < 0.3


def test_ret_code_fault_answers_the_error_without_acting(sim: SimControl, world: World) -> None:
    sim.fault(CREATE_SUB_API, ret_code=10016, ret_msg="Server error.")
    session = pybit(world.url, world.api_key, world.api_secret)
    with pytest.raises(InvalidRequestError) as caught:
        session.create_sub_api_key(
            subuid=world.subs[0], readOnly=0, permissions={"Spot": ["SpotTrade"]}
        )
    assert (caught.value.status_code, caught.value.message) == (10016, "Server error.")
    assert keys_of(sim, world.subs[0]) == []


def test_http_status_fault_is_not_json(sim: SimControl, world: World) -> None:
    sim.fault(QUERY_API, http_status=502)
    with pytest.raises(FailedRequestError) as caught:
        pybit(world.url, world.api_key, world.api_secret).get_api_key_information()
    assert caught.value.status_code == 502
    assert sim.requests(QUERY_API)[-1]["http_status"] == 502


def test_timeout_fault_never_answers(sim: SimControl, world: World) -> None:
    sim.fault(QUERY_API, timeout=True)
    session = pybit(world.url, world.api_key, world.api_secret, timeout=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get_api_key_information()
    assert sim.requests(QUERY_API)[-1]["http_status"] is None
    assert session.get_api_key_information()["retCode"] == 0


def test_drop_after_action_acts_then_breaks_the_connection(sim: SimControl, world: World) -> None:
    sim.fault(CREATE_SUB_API, drop_after_action=True)
    raw = RawClient(world.url, world.api_key, world.api_secret)
    with pytest.raises(httpx.TransportError):
        raw.post(CREATE_SUB_API, SPOT_BODY % world.subs[0])
    assert len(keys_of(sim, world.subs[0])) == 1
    entry = sim.requests(CREATE_SUB_API)[-1]
    assert (entry["retCode"], entry["http_status"]) == (0, None)

    sim.configure(rate_limit_scale=10)
    sim.fault(CREATE_SUB_API, drop_after_action=True)
    session = pybit(world.url, world.api_key, world.api_secret)
    with pytest.raises(requests.exceptions.RequestException):
        session.create_sub_api_key(
            subuid=world.subs[1], readOnly=0, permissions={"Spot": ["SpotTrade"]}
        )
    assert len(keys_of(sim, world.subs[1])) == 1


def test_count_and_forever_faults(sim: SimControl, world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    sim.fault(QUERY_API, ret_code=10016, count=2)
    codes = [raw.get(QUERY_API).json()["retCode"] for _ in range(3)]
    assert codes == [10016, 10016, 0]

    fault_id = sim.fault(QUERY_API, ret_code=10016, count=None)
    listed = sim.faults()
    assert [(f["id"], f["count"], f["endpoint"]) for f in listed] == [(fault_id, None, QUERY_API)]
    assert [raw.get(QUERY_API).json()["retCode"] for _ in range(3)] == [10016] * 3
    assert raw_control(sim.url, "DELETE", "faults").json() == {}
    assert raw.get(QUERY_API).json()["retCode"] == 0


def test_faults_apply_after_auth(sim: SimControl, world: World) -> None:
    sim.fault(QUERY_API, ret_code=10016)
    wrong = RawClient(world.url, world.api_key, "wrong-secret").get(QUERY_API)
    assert wrong.json()["retCode"] == 10004
    assert (
        RawClient(world.url, world.api_key, world.api_secret).get(QUERY_API).json()["retCode"]
        == 10016
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"ret_code": 10016, "http_status": 500},
        {"timeout": True, "drop_after_action": True},
        {"count": 0},
        {"ret_code": 0},
        {"latency_ms": -1},
        {"surprise": 1},
    ],
)
def test_invalid_fault_specs_are_400(sim: SimControl, spec: dict[str, object]) -> None:
    response = raw_control(sim.url, "POST", "faults", {"endpoint": QUERY_API, **spec})
    assert response.status_code == 400
    assert response.json()["error"]
