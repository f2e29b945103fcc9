"""Per request: a request id (kept from `X-Request-ID` when sane, else new, always echoed and in
every log line), the route-template metrics, and every body read as JSON. Plain ASGI, so
streaming is untouched."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keymint.observability import metrics

# A caller-chosen id lands in logs: keep it short and free of anything a log parser would
# misread.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _as_json(scope)
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else str(uuid.uuid4())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = _route_template(scope)
                method = str(scope.get("method", ""))
                metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
                metrics.HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)


def _as_json(scope: Scope) -> Scope:
    """Vault reads every request body as JSON, whatever `Content-Type` says: `curl -d` sends
    form encoding and many clients send none. So does keymint."""
    headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}


def _route_template(scope: Scope) -> str:
    """`/v1/creds/{role}`, never the filled-in path: one series per route, not per role or lease."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
