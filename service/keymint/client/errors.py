"""The client's errors, one class per kind of refusal, like hvac's status-mapped exceptions.

A message is keymint's own `errors` text (which never carries a secret) and the request line;
any token the client holds is scrubbed from it all the same, because an exception's text ends
up in logs and tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterable


class KeymintError(Exception):
    """keymint (or Vault, for a login or an unwrap) refused, or could not be reached."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class BadRequest(KeymintError):
    """400: the request was malformed; the message names the field."""


class Unauthenticated(KeymintError):
    """401: no Vault token, or one Vault does not know."""


class Forbidden(KeymintError):
    """403: the token's policies do not allow this path."""


class NotFound(KeymintError):
    """404: no such role or lease."""


class RoleNotFound(NotFound):
    """404 on a mint: the role does not exist."""


class LeaseNotFound(NotFound):
    """404 on a lease: it expired or was revoked."""


class Conflict(KeymintError):
    """409: another request changed the same thing, or an idempotent mint is still running."""


class IdempotencyConflict(KeymintError):
    """422: the Idempotency-Key was used before for another request."""


class CapacityExhausted(KeymintError):
    """429: no key can be made now (the pool is full, or Bybit's create rate is spent)."""


class UpstreamError(KeymintError):
    """502: Bybit refused or rate-limited keymint."""


class Unavailable(KeymintError):
    """503, or no answer at all: keymint, Vault or Bybit cannot be reached right now."""


class VaultLoginFailed(KeymintError):
    """The bot's own Vault login (token file, AppRole, Kubernetes) did not give a token."""


BY_STATUS: dict[int, type[KeymintError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: IdempotencyConflict,
    429: CapacityExhausted,
    502: UpstreamError,
    503: Unavailable,
}


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
