"""Per-UID API limits, their headers, pybit's 10006 retry, and the per-IP limit."""

from __future__ import annotations

import time

import httpx

from bybit_sim.control_client import SimControl
from sim.simtools import RawClient, World, now_ms, pybit, ret_codes

CREATE_SUB_API = "/v5/user/create-sub-api"
SPOT_BODY = '{"subuid": %d, "readOnly": 0, "permissions": {"Spot": ["SpotTrade"]}}'


def test_limit_headers_on_authenticated_answers(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    first = raw.get("/v5/user/query-api")
    second = raw.get("/v5/user/query-api")
    assert first.headers["X-Bapi-Limit"] == "10"
    assert (first.headers["X-Bapi-Limit-Status"], second.headers["X-Bapi-Limit-Status"]) == (
        "9",
        "8",
    )
    assert abs(int(first.headers["X-Bapi-Limit-Reset-Timestamp"]) - now_ms()) < 2000
    # Failed authentication has no UID to count against.
    unknown = RawClient(world.url, "B" * 18, world.api_secret).get("/v5/user/query-api")
    assert "X-Bapi-Limit" not in unknown.headers


def test_10006_when_the_window_is_full(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    assert raw.post(CREATE_SUB_API, SPOT_BODY % world.subs[0]).json()["retCode"] == 0
    refused = raw.post(CREATE_SUB_API, SPOT_BODY % world.subs[0])
    body = refused.json()
    assert (body["retCode"], body["retMsg"], body["result"]) == (10006, "Too many visits!", {})
    assert refused.headers["X-Bapi-Limit"] == "1"
    assert refused.headers["X-Bapi-Limit-Status"] == "0"
    reset = int(refused.headers["X-Bapi-Limit-Reset-Timestamp"])
    assert now_ms() < reset <= now_ms() + 1000
    # Separate UIDs and separate endpoints have separate windows.
    assert raw.get("/v5/user/query-api").json()["retCode"] == 0


def test_pybit_sleeps_until_the_reset_and_retries(sim: SimControl, world: World) -> None:
    session = pybit(world.url, world.api_key, world.api_secret)
    session.create_sub_api_key(
        subuid=world.subs[0], readOnly=0, permissions={"Spot": ["SpotTrade"]}
    )
    started = time.monotonic()
    answer = session.create_sub_api_key(
        subuid=world.subs[1], readOnly=0, permissions={"Spot": ["SpotTrade"]}
    )
    assert answer["retCode"] == 0
    assert time.monotonic() - started < 1.5
    assert ret_codes(sim, CREATE_SUB_API) == [0, 10006, 0]


def test_rate_limit_scale_multiplies_limits(sim: SimControl, world: World) -> None:
    sim.configure(rate_limit_scale=10)
    raw = RawClient(world.url, world.api_key, world.api_secret)
    codes = [
        raw.post(CREATE_SUB_API, SPOT_BODY % world.subs[0]).json()["retCode"] for _ in range(11)
    ]
    assert codes == [0] * 10 + [10006]


def test_injected_10006_still_carries_a_future_reset(sim: SimControl, world: World) -> None:
    sim.fault("/v5/user/query-api", ret_code=10006, ret_msg="Too many visits!")
    response = RawClient(world.url, world.api_key, world.api_secret).get("/v5/user/query-api")
    assert response.json()["retCode"] == 10006
    assert int(response.headers["X-Bapi-Limit-Reset-Timestamp"]) > now_ms()


def test_ip_limit_answers_403_plain_text_then_lifts(sim: SimControl) -> None:
    sim.configure(ip_limit_requests=5, ip_limit_window_seconds=5, ip_ban_seconds=0.5)
    url = f"{sim.url}/v5/market/time"
    statuses = [httpx.get(url).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [403]
    banned = httpx.get(url)
    assert (banned.status_code, banned.text) == (403, "access too frequent")
    assert banned.headers["content-type"].startswith("text/plain")
    # The control surface is never limited.
    sim.clock()  # SimControl raises unless the answer is HTTP 200
    time.sleep(0.6)
    assert httpx.get(url).status_code == 200
