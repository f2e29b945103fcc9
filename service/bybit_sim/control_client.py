"""A synchronous client for the simulator's control surface (`/__sim__/`), as
docs/simulator-control.md describes it.

Shipped with the simulator so that benchmarks, keymint's dev stack and every test folder drive it
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

CONTROL_PREFIX = "/__sim__"


class SimControlError(RuntimeError):
    """The control surface refused a request (or answered something that is not JSON)."""

    def __init__(self, method: str, path: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {path} answered HTTP {status_code}: {body}")
        self.method = method
        self.path = path
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True)
class SeededMaster:
    """A master account made by `POST /__sim__/seed`: its key, secret and sub-account UIDs."""

    master_uid: str
    api_key: str
    api_secret: str = field(repr=False)  # "" for an RSA master key
    subaccounts: list[str]


@dataclass(frozen=True)
class MasterKey:
    api_key: str
    api_secret: str = field(repr=False)  # "" for an RSA key


class SimControl:
    """The control surface of the simulator at `url` (its base URL, e.g. http://127.0.0.1:8900)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        target = f"{CONTROL_PREFIX}/{path}"
        response = self._http.request(method, target, json=body)
        if response.status_code != 200:
            raise SimControlError(method, target, response.status_code, response.text)
        try:
            return response.json()
        except ValueError:
            raise SimControlError(method, target, response.status_code, response.text) from None

    def reset(self) -> None:
        """Forget all accounts, keys, faults, rate-limit windows and requests; clock and config
        back to their start-up values."""
        self._call("POST", "reset")

    def seed(self, subaccounts: int = 0, **options: Any) -> SeededMaster:
        """A new master account with `subaccounts` sub-accounts; `options` are the other seed
        fields (master_ips, master_permissions, master_read_only, rsa_public_key, username_prefix).
        """
        answer = self._call("POST", "seed", {"subaccounts": subaccounts, **options})
        seeded = SeededMaster(
            master_uid=answer["master_uid"],
            api_key=answer["api_key"],
            api_secret=answer.get("api_secret", ""),
            subaccounts=answer["subaccounts"],
        )
        strings = [seeded.master_uid, seeded.api_key, seeded.api_secret, *seeded.subaccounts]
        if not all(isinstance(value, str) for value in strings):
            raise SimControlError("POST", f"{CONTROL_PREFIX}/seed", 200, f"not strings: {answer}")
        return seeded

    def add_master_key(self, master_uid: str, **options: Any) -> MasterKey:
        """Another key for an existing master account, as an operator makes one in Bybit's web
        UI before rotating to it; `options` as for seed (master_ips, master_permissions, ...)."""
        answer = self._call("POST", "master-keys", {"master_uid": master_uid, **options})
        return MasterKey(api_key=answer["api_key"], api_secret=answer.get("api_secret", ""))

    def configure(self, **fields: Any) -> dict[str, Any]:
        """Change some config fields; the full runtime config comes back."""
        config: dict[str, Any] = self._call("PUT", "config", fields)
        return config

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self._call("GET", "config")
        return config

    def fault(self, endpoint: str, **spec: Any) -> str:
        """Inject a fault on a Bybit path (count, latency_ms, ret_code, ret_msg, http_status,
        timeout, drop_after_action); its id comes back."""
        answer = self._call("POST", "faults", {"endpoint": endpoint, **spec})
        return str(answer["id"])

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "faults")["faults"]
        return faults

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def advance(self, seconds: float) -> dict[str, int]:
        """Move the simulator's clock (negative: back); `{"now_ms", "offset_ms"}` comes back."""
        clock: dict[str, int] = self._call("POST", "clock", {"advance_seconds": seconds})
        return clock

    def set_clock_ms(self, ms: int) -> dict[str, int]:
        clock: dict[str, int] = self._call("POST", "clock", {"set_ms": ms})
        return clock

    def clock(self) -> dict[str, int]:
        clock: dict[str, int] = self._call("GET", "clock")
        return clock

    def state(self) -> dict[str, Any]:
        """Accounts and keys (never a secret), and the simulator's time."""
        state: dict[str, Any] = self._call("GET", "state")
        return state

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """The logged Bybit requests, oldest first; only those to `path` when it is given."""
        log: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return [entry for entry in log if path is None or entry["path"] == path]
