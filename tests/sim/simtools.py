"""Helpers for driving a real bybit-sim process: start/stop it, its control surface, raw signing."""

from __future__ import annotations

import hashlib
import hmac
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pybit.unified_trading import HTTP
from requests.adapters import HTTPAdapter

SIM_BIN = Path(sys.executable).parent / "bybit-sim"
FAST_RETRY = {"max_retries": 3, "retry_delay": 0.1}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SimProcess:
    """`bybit-sim` as a subprocess on a free loopback port."""

    def __init__(self, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [str(SIM_BIN), "--host", "127.0.0.1", "--port", str(self.port), *extra]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bybit-sim exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v5/market/time", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"bybit-sim did not serve {self.url}:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class World:
    """A seeded master account: its key, secret and sub UIDs (ints, as requests want them)."""

    url: str
    master_uid: int
    api_key: str
    api_secret: str
    subs: list[int]


class Control:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, f"/__sim__/{path}", json=body)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(method, path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def reset(self) -> None:
        self.ok("POST", "reset")

    def seed(self, subaccounts: int = 2, **options: Any) -> World:
        answer = self.ok("POST", "seed", {"subaccounts": subaccounts, **options})
        return World(
            url=self.url,
            master_uid=int(answer["master_uid"]),
            api_key=answer["api_key"],
            api_secret=answer.get("api_secret", ""),
            subs=[int(uid) for uid in answer["subaccounts"]],
        )

    def configure(self, **fields: Any) -> dict[str, Any]:
        config: dict[str, Any] = self.ok("PUT", "config", fields)
        return config

    def fault(self, endpoint: str, **spec: Any) -> str:
        answer: dict[str, str] = self.ok("POST", "faults", {"endpoint": endpoint, **spec})
        return answer["id"]

    def advance(self, seconds: float) -> dict[str, int]:
        clock: dict[str, int] = self.ok("POST", "clock", {"advance_seconds": seconds})
        return clock

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.ok("GET", "state")
        return state

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.ok("GET", "requests")["requests"]
        return [entry for entry in log if path is None or entry["path"] == path]

    def ret_codes(self, path: str) -> list[int | None]:
        return [entry["retCode"] for entry in self.requests(path)]


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
