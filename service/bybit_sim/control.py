"""The `/__sim__/` control surface (docs/simulator-control.md): plain JSON, no auth, no limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bybit_sim import expiry
from bybit_sim.clock import iso_utc
from bybit_sim.config import ConfigError, apply_overrides, first_problem
from bybit_sim.envelope import Reply
from bybit_sim.faults import FaultSpec
from bybit_sim.seeding import MasterKeyRequest, SeedError, SeedRequest, add_master_key, seed
from bybit_sim.sim import Simulator

CONTROL_PREFIX = "/__sim__/"
CONTROL_TYPE = "application/json"

Body = dict[str, object]
ControlHandler = Callable[[Simulator, Body], Body]


class ClockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_seconds: float | None = None
    set_ms: int | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.advance_seconds is None) == (self.set_ms is None):
            raise ValueError("give exactly one of advance_seconds, set_ms")
        return self


def _reset(sim: Simulator, _: Body) -> Body:
    sim.reset()
    return {}


def _seed(sim: Simulator, body: Body) -> Body:
    return seed(sim, SeedRequest.model_validate(body))


def _master_key(sim: Simulator, body: Body) -> Body:
    return add_master_key(sim, MasterKeyRequest.model_validate(body))


def _state(sim: Simulator, _: Body) -> Body:
    now = sim.clock.now_ms()
    accounts = [
        {
            "uid": str(a.uid),
            "username": a.username,
            "memberType": a.member_type,
            "status": a.status,
            "parentUid": str(a.parent_uid),
            "isMaster": a.is_master,
        }
        for a in sim.state.accounts.values()
    ]
    # Never a secret: tests assert on this answer and print it freely.
    keys = [
        {
            "id": k.id,
            "apiKey": k.api_key,
            "uid": str(k.uid),
            "note": k.note,
            "readOnly": k.read_only,
            "ips": list(k.ips),
            "permissions": k.permissions,
            "createdAt": iso_utc(k.created_ms),
            "expiredAt": expiry.validity(k, now, sim.config).expired_at,
            "flag": k.flag,
        }
        for k in sim.state.keys.values()
    ]
    return {"now_ms": now, "accounts": accounts, "keys": keys}


def _get_clock(sim: Simulator, _: Body) -> Body:
    return dict(sim.clock.describe())


def _set_clock(sim: Simulator, body: Body) -> Body:
    request = ClockRequest.model_validate(body)
    if request.advance_seconds is not None:
        sim.clock.advance(request.advance_seconds)
    if request.set_ms is not None:
        sim.clock.set_now(request.set_ms)
    return dict(sim.clock.describe())


def _add_fault(sim: Simulator, body: Body) -> Body:
    return {"id": sim.faults.add(FaultSpec.model_validate(body))}


def _list_faults(sim: Simulator, _: Body) -> Body:
    return {"faults": sim.faults.describe()}


def _clear_faults(sim: Simulator, _: Body) -> Body:
    sim.faults.clear()
    return {}


def _get_config(sim: Simulator, _: Body) -> Body:
    return sim.config.model_dump()


def _put_config(sim: Simulator, body: Body) -> Body:
    sim.config = apply_overrides(sim.config, body)
    return sim.config.model_dump()


def _requests(sim: Simulator, _: Body) -> Body:
    return {"requests": sim.requests.describe()}


HANDLERS: dict[tuple[str, str], ControlHandler] = {
    ("POST", "reset"): _reset,
    ("POST", "seed"): _seed,
    ("POST", "master-keys"): _master_key,
    ("GET", "state"): _state,
    ("GET", "clock"): _get_clock,
    ("POST", "clock"): _set_clock,
    ("POST", "faults"): _add_fault,
    ("GET", "faults"): _list_faults,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "config"): _get_config,
    ("PUT", "config"): _put_config,
    ("GET", "requests"): _requests,
}


def _json(status: int, body: Body) -> Reply:
    return Reply(status=status, body=json.dumps(body).encode(), content_type=CONTROL_TYPE)


def handle(sim: Simulator, method: str, path: str, raw_body: bytes) -> Reply:
    name = path.removeprefix(CONTROL_PREFIX).strip("/")
    handler = HANDLERS.get((method, name))
    if handler is None:
        known = any(known_name == name for _, known_name in HANDLERS)
        status = 405 if known else 404
        return _json(status, {"error": f"no control endpoint {method} {path}"})
    try:
        body = json.loads(raw_body) if raw_body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _json(400, {"error": "body is not JSON"})
    if not isinstance(body, dict):
        return _json(400, {"error": "body must be a JSON object"})
    try:
        answer = handler(sim, body)
    except ValidationError as exc:
        return _json(400, {"error": first_problem(exc)})
    except (ConfigError, SeedError) as exc:
        return _json(400, {"error": str(exc)})
    sim.persist()
    return _json(200, answer)
