"""Simulator test helpers: seeded masters with int UIDs, pybit on the simulator, raw signing."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pybit.unified_trading import HTTP
from requests.adapters import HTTPAdapter

from bybit_sim.control_client import SimControl

FAST_RETRY = {"max_retries": 3, "retry_delay": 0.1}


@dataclass(frozen=True)
class World:
    """A seeded master as these tests use it: the simulator's URL beside the key, and UIDs as
    ints, the type Bybit's request bodies want (`subuid`, `%d` in raw bodies)."""

    url: str
    master_uid: int
    api_key: str
    api_secret: str
    subs: list[int]


def seed(sim: SimControl, subaccounts: int = 2, **options: Any) -> World:
    seeded = sim.seed(subaccounts, **options)
    return World(
        url=sim.url,
        master_uid=int(seeded.master_uid),
        api_key=seeded.api_key,
        api_secret=seeded.api_secret,
        subs=[int(uid) for uid in seeded.subaccounts],
    )


def ret_codes(sim: SimControl, path: str) -> list[int | None]:
    return [entry["retCode"] for entry in sim.requests(path)]


def raw_control(url: str, method: str, path: str, body: Any = None) -> httpx.Response:
    """A control-surface request as sent, for tests of its refusals (SimControl raises on them)."""
    return httpx.request(method, f"{url}/__sim__/{path}", json=body, timeout=10)


def pybit(url: str, api_key: str, api_secret: str, **options: Any) -> HTTP:
    """pybit 5.17.0, unmodified, pointed at the simulator the way bybit-v5.md 9.3 describes."""
    session = HTTP(api_key=api_key, api_secret=api_secret, **{**FAST_RETRY, **options})
    session.endpoint = url
    return session


class SourceAddressAdapter(HTTPAdapter):
    """Makes requests connect from a chosen loopback address (127.0.0.0/8 is all local)."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def pybit_from(source_ip: str, url: str, api_key: str, api_secret: str) -> HTTP:
    session = pybit(url, api_key, api_secret)
    session.client.mount("http://", SourceAddressAdapter(source_ip))
    return session


def hmac_sign(secret: str, origin: str) -> str:
    return hmac.new(secret.encode(), origin.encode(), hashlib.sha256).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RawClient:
    """Signs exactly what it sends, with every header under the test's control."""

    def __init__(self, url: str, api_key: str, api_secret: str, local_address: str = "") -> None:
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        self.http = httpx.Client(base_url=url, timeout=10, transport=transport)
        self.api_key = api_key
        self.api_secret = api_secret

    def headers(
        self, payload: str, *, ts: int | None = None, recv_window: str = "5000"
    ) -> dict[str, str]:
        timestamp = str(now_ms() if ts is None else ts)
        return {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": recv_window,
            "X-BAPI-SIGN": hmac_sign(
                self.api_secret, timestamp + self.api_key + recv_window + payload
            ),
            "X-BAPI-SIGN-TYPE": "2",
            "Content-Type": "application/json",
        }

    def get(self, path: str, query: str = "", **sign: Any) -> httpx.Response:
        target = f"{path}?{query}" if query else path
        return self.http.get(target, headers=self.headers(query, **sign))

    def post(self, path: str, body: str, **sign: Any) -> httpx.Response:
        return self.http.post(path, content=body.encode(), headers=self.headers(body, **sign))
