"""The one error hierarchy of keymint.

Domain and adapter code raise these; the HTTP layer renders each as Vault's error shape
`{"errors": [message]}` with the class's status. Messages are shown to callers, so they name
the problem and the field, and never carry a secret, a token or a raw upstream body.
"""

from __future__ import annotations


class KeymintError(Exception):
    status_code: int = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(KeymintError):
    status_code = 400


class Unauthenticated(KeymintError):
    status_code = 401


class PermissionDenied(KeymintError):
    status_code = 403


class NotFound(KeymintError):
    status_code = 404


class Conflict(KeymintError):
    status_code = 409


class Unprocessable(KeymintError):
    """Well-formed but contradicting an earlier request (an idempotent replay of another body)."""

    status_code = 422


class TooManyRequests(KeymintError):
    """Refused for now; `Retry-After` says when trying again makes sense."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})
        self.retry_after_s = retry_after_s


class CapacityExhausted(TooManyRequests):
    """Every sub-account of a role's pool is at its key limit."""


class UpstreamError(KeymintError):
    """Bybit refused the request or rate-limited it."""

    status_code = 502


class Unavailable(KeymintError):
    """Vault or Bybit could not be reached; nothing was done."""

    status_code = 503
