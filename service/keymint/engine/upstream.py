"""Bybit's failures as keymint errors: what a bot or an operator should be told."""

from __future__ import annotations

from keymint.bybit.errors import (
    AuthError,
    BybitError,
    CreateOutcome,
    CreateOutcomeLost,
    IpNotAllowedError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
)
from keymint.errors import KeymintError, Unavailable, UpstreamError


def translate(exc: BybitError, *, doing: str) -> KeymintError:
    """The message names the failure's class and Bybit's code, never a request or a secret."""
    code = f" (retCode {exc.ret_code})" if exc.ret_code is not None else ""
    if isinstance(exc, CreateOutcomeLost):
        leftover = (
            "no key was left behind"
            if exc.outcome in (CreateOutcome.NOT_CREATED, CreateOutcome.DELETED)
            else "a key may exist without its secret; reconciliation deletes it"
        )
        return Unavailable(f"{doing}: Bybit's answer was lost in transit; {leftover}; retry")
    if isinstance(exc, NetworkError):
        return Unavailable(f"{doing}: Bybit could not be reached; nothing was created")
    if isinstance(exc, RateLimitError):
        return UpstreamError(f"{doing}: Bybit rate-limited the request{code}; retry later")
    if isinstance(exc, AuthError | PermissionDeniedError | IpNotAllowedError):
        return UpstreamError(
            f"{doing}: Bybit refused keymint's master key{code}: {type(exc).__name__}; "
            "check the master credential, its permissions and its IP binding"
        )
    return UpstreamError(f"{doing}: Bybit refused the request{code}: {exc.ret_msg}")
