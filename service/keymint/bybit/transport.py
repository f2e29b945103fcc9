"""Signed requests to Bybit: one attempt on the wire, and the retry rules around it."""

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from keymint.bybit.errors import (
    AuthError,
    BybitError,
    NetworkError,
    RateLimitError,
    ServerError,
    error_for,
    outcome_unknown,
)
from keymint.bybit.events import RequestEvent, RequestHook
from keymint.bybit.models import ServerTime, parse
from keymint.bybit.ratelimit import RateLimiter
from keymint.bybit.signing import Credentials, encode_body, encode_query

logger = logging.getLogger(__name__)

SERVER_TIME = "/v5/market/time"
_TIMESTAMP_ERROR = 10002
_BACKOFF_BASE_S = 0.1
_BACKOFF_MAX_S = 2.0
# Without a Reset-Timestamp header, wait out one rolling window before the next try.
_DEFAULT_RESET_S = 1.0
# httpx raises these before a single byte reached the server, so any call may be repeated.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Call:
    """One Bybit endpoint invocation.

    ``retry``: the call may be repeated after a response was lost or Bybit failed; True for
    reads and for updates that set a value. Creates set it False and resolve a lost response
    themselves. ``gone_ret_codes``: for deletes, the codes that mean "no such thing"; after an
    attempt whose response was lost they mean the delete already happened.
    ``redact_body``: the body holds a secret (a password), so Bybit's echo of the signed
    payload (10004 retMsg) is cut from errors.
    """

    method: Literal["GET", "POST"]
    path: str
    params: Mapping[str, object] = field(default_factory=dict)
    retry: bool = True
    gone_ret_codes: Collection[int] = ()
    signed: bool = True
    redact_body: bool = False


class Transport:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        recv_window_ms: int,
        timeout_s: float,
        rate_limiter: RateLimiter,
        key_cap_ret_codes: Collection[int],
        max_retries: int,
        http_client: httpx.AsyncClient,
        on_request: RequestHook,
    ) -> None:
        self.base_url = base_url
        self.credentials = credentials
        # Bybit counts per UID; a rotated master key belongs to the same UID, so the pacing
        # identity stays the key this transport started with.
        self._identity = credentials.api_key
        self._recv_window_ms = recv_window_ms
        self._timeout_s = timeout_s
        self._limiter = rate_limiter
        self._key_cap_ret_codes = frozenset(key_cap_ret_codes)
        self._max_retries = max_retries
        self._http = http_client
        self._on_request = on_request
        self._offset_ms = 0

    def now_ms(self) -> int:
        """Bybit's clock as best known: the local clock plus the last measured offset."""
        return time.time_ns() // 1_000_000 + self._offset_ms

    async def server_time(self) -> ServerTime:
        result = await self.call(Call("GET", SERVER_TIME, signed=False))
        return parse(ServerTime, result, SERVER_TIME)

    async def sync_clock(self) -> None:
        """Measure Bybit's clock offset, assuming the answer was stamped mid-flight."""
        before = time.time_ns()
        server = await self.server_time()
        midpoint_ms = (before + time.time_ns()) // 2_000_000
        self._offset_ms = server.epoch_ms - midpoint_ms

    async def call(self, call: Call) -> dict[str, Any]:
        """Send ``call`` and return the envelope's ``result``, retrying what is safe to retry.

        10002 (clock skew) re-syncs the clock once. 10006 and HTTP 429 are retried for every
        call, creates included, since Bybit refused them without acting; the limiter holds the
        retry until Bybit's reset time. Lost responses and server failures are retried with
        exponential backoff only when ``call.retry`` allows, or when nothing was sent.
        """
        retries = 0
        resynced = False
        acted = False  # an earlier attempt may have acted without its answer arriving
        while True:
            try:
                return await self._attempt(call)
            except BybitError as exc:
                if acted and exc.ret_code in call.gone_ret_codes:
                    return {}
                if isinstance(exc, AuthError) and exc.ret_code == _TIMESTAMP_ERROR:
                    if resynced:
                        raise
                    resynced = True
                    logger.warning("bybit %s: clock skew, re-syncing with server time", call.path)
                    await self.sync_clock()
                    continue
                if retries >= self._max_retries or not _retryable(call, exc):
                    raise
                if isinstance(exc, NetworkError | ServerError):
                    acted = acted or outcome_unknown(exc)
                    delay = min(_BACKOFF_BASE_S * 2**retries, _BACKOFF_MAX_S)
                    logger.warning("bybit retry in %.2fs after %s", delay, exc)
                    await asyncio.sleep(delay)
                retries += 1

    async def _attempt(self, call: Call) -> dict[str, Any]:
        await self._limiter.acquire(self._identity, call.path)
        request = self._build(call)
        started = time.monotonic()
        response: httpx.Response | None = None
        error: BybitError | None = None
        try:
            response = await self._send(request, call.path)
            return self._result(call, request, response)
        except BybitError as exc:
            error = exc
            raise
        finally:
            limited = isinstance(error, RateLimitError)
            self._report(
                RequestEvent(
                    endpoint=call.path,
                    duration_s=time.monotonic() - started,
                    ret_code=0 if error is None else error.ret_code,
                    error=None if error is None else type(error),
                    rate_limit_remaining=(
                        None if response is None else self._pace(call.path, response, limited)
                    ),
                )
            )

    def _build(self, call: Call) -> httpx.Request:
        url = self.base_url + call.path
        headers: dict[str, str] = {}
        content: bytes | None = None
        if call.method == "GET":
            query = encode_query(call.params)
            payload = query.encode()
            # httpx keeps an already percent-encoded query byte for byte, so the wire query is
            # exactly the signed one.
            url += f"?{query}" if query else ""
        else:
            content = payload = encode_body(call.params)
            headers["Content-Type"] = "application/json"
        if call.signed:
            headers |= self.credentials.headers(self.now_ms(), self._recv_window_ms, payload)
        return self._http.build_request(
            call.method, url, content=content, headers=headers, timeout=self._timeout_s
        )

    async def _send(self, request: httpx.Request, endpoint: str) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.RequestError as exc:
            failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
            sent = not isinstance(exc, _NOT_SENT)
        # Raised outside the handler: httpx's exception holds the request and its signature
        # header, which must not ride along as __context__.
        raise NetworkError(failure, endpoint, sent=sent)

    def _result(
        self, call: Call, request: httpx.Request, response: httpx.Response
    ) -> dict[str, Any]:
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("retCode"), int):
            raise error_for(
                endpoint=call.path,
                http_status=response.status_code,
                ret_code=None,
                ret_msg=f"no Bybit envelope in a {len(response.content)}-byte body",
            )
        if envelope["retCode"] != 0:
            ret_msg = str(envelope.get("retMsg", ""))
            if call.redact_body:
                ret_msg = ret_msg.replace(request.content.decode(), "<redacted body>")
            raise error_for(
                endpoint=call.path,
                http_status=response.status_code,
                ret_code=envelope["retCode"],
                ret_msg=ret_msg,
                key_cap_ret_codes=self._key_cap_ret_codes,
            )
        result = envelope.get("result")
        if not isinstance(result, dict):
            raise ServerError(None, "result is not an object", call.path, response.status_code)
        return result

    def _pace(self, endpoint: str, response: httpx.Response, limited: bool) -> int | None:
        """Feed Bybit's rate-limit headers to the limiter; return the requests remaining."""
        remaining = _int_header(response, "X-Bapi-Limit-Status")
        reset_ms = _int_header(response, "X-Bapi-Limit-Reset-Timestamp")
        reset_in_s = _DEFAULT_RESET_S if reset_ms is None else (reset_ms - self.now_ms()) / 1000
        level = 0 if limited else remaining
        if level is not None:
            self._limiter.observe(self._identity, endpoint, level, reset_in_s)
        return remaining

    def _report(self, event: RequestEvent) -> None:
        try:
            self._on_request(event)
        except Exception:
            # An observability bug must not fail, or retry, a call that reached Bybit.
            logger.exception("bybit request hook failed")


def _retryable(call: Call, exc: BybitError) -> bool:
    if isinstance(exc, RateLimitError):
        # The IP limit (HTTP 403) bans for at least ten minutes: retrying only extends it.
        return exc.http_status != 403
    if isinstance(exc, NetworkError) and not exc.sent:
        return True
    return call.retry and isinstance(exc, NetworkError | ServerError)


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None
