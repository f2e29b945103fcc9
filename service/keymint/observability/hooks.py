"""What the adapters report, turned into metrics. The adapters call these through their
hooks; nothing in them knows about Prometheus."""

from __future__ import annotations

from keymint.bybit.errors import (
    AuthError,
    BybitError,
    CreateOutcomeLost,
    IpNotAllowedError,
    KeyCapError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from keymint.bybit.events import RequestEvent
from keymint.observability import metrics

# Most specific first: KeyCapError is an InvalidRequestError, CreateOutcomeLost a BybitError.
_ERROR_CLASSES: list[tuple[type[BybitError], str]] = [
    (CreateOutcomeLost, "lost_create"),
    (KeyCapError, "key_cap"),
    (AuthError, "auth"),
    (PermissionDeniedError, "permission"),
    (IpNotAllowedError, "ip"),
    (RateLimitError, "rate_limit"),
    (ServerError, "server"),
    (NetworkError, "network"),
]


def error_class(error: type[BybitError]) -> str:
    for cls, label in _ERROR_CLASSES:
        if issubclass(error, cls):
            return label
    return "invalid"


def bybit_request(event: RequestEvent) -> None:
    metrics.BYBIT_DURATION.labels(event.endpoint).observe(event.duration_s)
    if event.error is not None:
        metrics.BYBIT_ERRORS.labels(event.endpoint, error_class(event.error)).inc()
    if event.rate_limit_remaining is not None:
        metrics.BYBIT_RATE_LIMIT_REMAINING.labels(event.endpoint).set(event.rate_limit_remaining)


def vault_operation(operation: str, seconds: float, answered: bool) -> None:
    metrics.VAULT_DURATION.labels(operation).observe(seconds)
    metrics.VAULT_UP.set(1 if answered else 0)
