"""One Bybit request from arrival to answer: IP limit, routing, auth, UID limit, faults, handler.

The result says how to deliver the answer, since a fault may withhold it; the ASGI layer in app.py
does the delivering.
"""

from __future__ import annotations

import asyncio
import enum
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bybit_sim import envelope
from bybit_sim.auth import authenticate
from bybit_sim.calls import Call
from bybit_sim.envelope import BybitError, Reply, bybit_reply, error_reply, text_reply
from bybit_sim.params import Params
from bybit_sim.routes import ROUTES, Route, check_caller
from bybit_sim.sim import Simulator
from bybit_sim.state import Account, ApiKey

MARKET_TIME_PATH = "/v5/market/time"


class Delivery(enum.Enum):
    ANSWER = "answer"
    DROP = "drop"  # send part of the answer, then close the connection
    HOLD = "hold"  # never answer


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    raw_query: bytes
    body: bytes
    headers: Mapping[str, str]
    client_ip: str


@dataclass
class Outcome:
    reply: Reply
    delivery: Delivery = Delivery.ANSWER
    uid: int | None = None


async def process(sim: Simulator, request: Incoming) -> Outcome:
    config = sim.config
    if not sim.ip_limiter.allow(request.client_ip, config):
        return Outcome(text_reply(403, config.ip_limit_body))
    if request.method not in ("GET", "POST"):
        return Outcome(text_reply(400, "Bad Request"))
    if request.method == "GET" and request.body:
        # Docs: a GET carrying a body is refused with HTTP 403.
        return Outcome(text_reply(403, "Forbidden"))
    if (request.method, request.path) == ("GET", MARKET_TIME_PATH):
        return await _with_faults(sim, request, lambda: _market_time(sim))
    route = ROUTES.get((request.method, request.path))
    if route is None:
        error = BybitError(
            envelope.ROUTE_NOT_FOUND, envelope.ROUTE_NOT_FOUND_MSG, config.unknown_path_http_status
        )
        return Outcome(error_reply(error, sim.clock.now_ms()))
    payload = request.raw_query if request.method == "GET" else request.body
    try:
        key, account = authenticate(request.headers, payload, request.client_ip, sim)
    except BybitError as error:
        return Outcome(error_reply(error, sim.clock.now_ms()))
    return await _authenticated(sim, request, route, key, account)


async def _authenticated(
    sim: Simulator, request: Incoming, route: Route, key: ApiKey, account: Account
) -> Outcome:
    verdict = sim.uid_limiter.check(
        account.uid, request.path, route.limit, sim.config.rate_limit_scale, sim.clock.now_ms()
    )
    if verdict.allowed:
        outcome = await _with_faults(sim, request, lambda: _run(sim, request, route, key, account))
    else:
        too_many = BybitError(envelope.TOO_MANY_VISITS, envelope.TOO_MANY_VISITS_MSG)
        outcome = Outcome(error_reply(too_many, sim.clock.now_ms()))
    if verdict.allowed and outcome.reply.ret_code == envelope.TOO_MANY_VISITS:
        verdict = verdict.as_refusal()
    outcome.reply.headers.update(verdict.headers())
    outcome.uid = account.uid
    return outcome


async def _with_faults(sim: Simulator, request: Incoming, action: Callable[[], Reply]) -> Outcome:
    fault = sim.faults.take(request.path, _subaccount_named(request))
    if fault is None:
        return Outcome(action())
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.timeout:
        return Outcome(Reply(status=200, body=b""), Delivery.HOLD)
    if fault.http_status is not None:
        return Outcome(text_reply(fault.http_status, f"simulated HTTP {fault.http_status}"))
    if fault.ret_code is not None:
        msg = fault.ret_msg if fault.ret_msg is not None else "simulated fault"
        return Outcome(bybit_reply(fault.ret_code, msg, {}, sim.clock.now_ms()))
    return Outcome(action(), Delivery.DROP if fault.drop_after_action else Delivery.ANSWER)


def _subaccount_named(request: Incoming) -> int | None:
    """The sub-account a request is about (`subuid` in a POST body, `subMemberId` in a GET
    query), so a fault can hit one sub-account's requests only."""
    try:
        if request.method == "GET":
            value = urllib.parse.parse_qs(request.raw_query.decode()).get("subMemberId", [None])[0]
        else:
            value = json.loads(request.body or b"{}").get("subuid")
        return int(value) if value is not None else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None


def _market_time(sim: Simulator) -> Reply:
    now_ns = sim.clock.now_ns()
    result: envelope.Result = {"timeSecond": str(now_ns // 10**9), "timeNano": str(now_ns)}
    return bybit_reply(0, "OK", result, now_ns // 10**6)


def _run(sim: Simulator, request: Incoming, route: Route, key: ApiKey, account: Account) -> Reply:
    now = sim.clock.now_ms()
    lenient = sim.config.lenient_types
    try:
        if request.method == "GET":
            params = Params.from_query(request.raw_query, lenient=lenient)
        else:
            params = Params.from_body(request.body, lenient=lenient)
        call = Call(sim=sim, key=key, account=account, params=params, now_ms=now)
        check_caller(route, call)
        return bybit_reply(0, route.ok_msg, route.handler(call), now)
    except BybitError as error:
        return error_reply(error, now)
