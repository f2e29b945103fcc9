"""keymint's HTTP API as the client speaks it, without doing any I/O: the requests, how
answers and refusals are read, and when to retry. `sync` and `aio` only send."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from keymint.client.errors import (
    BY_STATUS,
    KeymintError,
    LeaseNotFound,
    NotFound,
    RoleNotFound,
    Unavailable,
    scrub,
)

DEFAULT_ADDR = "http://127.0.0.1:8300"


def keymint_addr(given: str | None) -> str:
    return (given or os.environ.get("KEYMINT_ADDR") or DEFAULT_ADDR).rstrip("/")


@dataclass(frozen=True)
class Credentials:
    """A Bybit key as keymint minted it. The secret is left out of repr and str."""

    api_key: str
    api_secret: str = field(repr=False)
    subaccount_uid: int
    lease_id: str
    permissions: dict[str, list[str]] = field(default_factory=dict)
    ips: list[str] = field(default_factory=list)
    read_only: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any], lease_id: str) -> Credentials:
        return cls(
            api_key=str(data["api_key"]),
            api_secret=str(data["api_secret"]),
            subaccount_uid=int(data["subaccount_uid"]),
            lease_id=lease_id,
            permissions=dict(data.get("permissions") or {}),
            ips=list(data.get("ips") or []),
            read_only=bool(data.get("read_only", False)),
        )


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    what: str  # for error messages: "mint role 'x'", "renew lease ..."
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    not_found: type[NotFound] = NotFound
    # Safe to send again after no answer: reads, and mints carrying an Idempotency-Key.
    idempotent: bool = True


@dataclass(frozen=True)
class MintSpec:
    role: str
    ttl: int | str | None = None
    instance_id: str | None = None
    wrap_ttl: int | str | None = None

    def request(self, addr: str, idempotency_key: str | None) -> Request:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if self.instance_id:
            headers["X-Keymint-Instance"] = self.instance_id
        if self.wrap_ttl is not None:
            headers["X-Vault-Wrap-TTL"] = str(self.wrap_ttl)
        body = {"ttl": self.ttl} if self.ttl is not None else {}
        return Request(
            "POST",
            f"{addr}/v1/creds/{quote(self.role, safe='')}",
            f"mint for role {self.role!r}",
            json=body,
            headers=headers,
            not_found=RoleNotFound,
        )


def renew_request(addr: str, lease_id: str, increment: int | str | None) -> Request:
    body = {"increment": increment} if increment is not None else {}
    return Request(
        "POST",
        f"{addr}/v1/leases/{lease_id}/renew",
        f"renew lease {lease_id}",
        json=body,
        not_found=LeaseNotFound,
    )


def lookup_request(addr: str, lease_id: str) -> Request:
    return Request(
        "GET",
        f"{addr}/v1/leases/{lease_id}",
        f"look up lease {lease_id}",
        not_found=LeaseNotFound,
    )


def revoke_request(addr: str, lease_id: str) -> Request:
    return Request(
        "DELETE",
        f"{addr}/v1/leases/{lease_id}",
        f"revoke lease {lease_id}",
        not_found=LeaseNotFound,
    )


def unwrap_request(vault_addr: str, wrap_token: str) -> Request:
    # The wrapping token is the credential of this call, sent as Vault's unwrap expects.
    return Request(
        "POST",
        f"{vault_addr}/v1/sys/wrapping/unwrap",
        "unwrap the answer at Vault",
        headers={"X-Vault-Token": wrap_token},
        idempotent=False,
    )


def error_for(request: Request, response: httpx.Response, secrets: Iterable[str]) -> KeymintError:
    try:
        body = response.json()
        messages = [str(e) for e in body.get("errors") or []] if isinstance(body, dict) else []
    except ValueError:
        messages = []
    text = "; ".join(messages) or "no error message"
    status = response.status_code
    cls = request.not_found if status == 404 else BY_STATUS.get(status, KeymintError)
    return cls(
        scrub(f"{request.what}: HTTP {status}: {text}", secrets),
        status=status,
        retry_after_s=retry_after(response),
    )


def unreachable(request: Request, exc: httpx.HTTPError) -> KeymintError:
    # The exception's own text may quote the URL's query or a header: only its class is shown.
    return Unavailable(f"{request.what}: no answer ({type(exc).__name__})")


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """429 and 503 wait out `Retry-After` (plus jitter, so a fleet does not come back at the
    same instant); 502, a 409 of a mint in flight and no answer at all back off exponentially.
    Bounded by attempts and by the total time spent waiting."""

    max_attempts: int = 8
    max_wait_s: float = 300.0
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter: float = 0.2

    def delay(
        self, attempt: int, waited_s: float, status: int | None, hinted_s: float | None
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        if status in (429, 503) and hinted_s is not None:
            base = hinted_s
        elif status in (None, 409, 429, 502, 503):
            base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        else:
            return None
        wait = base * (1 + random.uniform(0, self.jitter)) + random.uniform(0, self.backoff_s)
        if waited_s + wait > self.max_wait_s:
            return None
        return wait


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class LeaseTimes:
    """A lease's time left and time left to its max TTL, both as keymint counts them (so the
    bot's clock may be off)."""

    ttl_s: float
    max_ttl_left_s: float | None

    @classmethod
    def from_lease_data(cls, data: dict[str, Any]) -> LeaseTimes:
        ttl = float(data["ttl"])
        beyond = parse_time(data["max_expire_time"]) - parse_time(data["expire_time"])
        return cls(ttl, ttl + beyond)


def granted(body: dict[str, Any]) -> tuple[Credentials, float] | str:
    """A mint's credentials and lease duration, or the wrapping token of a wrapped answer."""
    wrap = body.get("wrap_info")
    if wrap:
        return str(wrap["token"])
    return Credentials.from_data(body["data"], str(body["lease_id"])), float(body["lease_duration"])


def unwrapped(body: dict[str, Any], now: float) -> tuple[Credentials, float]:
    """The wrapped payload carries no lease_duration: it is read from `expires_at`."""
    data = body["data"]
    duration = max(0.0, parse_time(data["expires_at"]) - now)
    return Credentials.from_data(data, str(data["lease_id"])), duration
