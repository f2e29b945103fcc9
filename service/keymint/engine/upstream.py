"""Bybit's failures as keymint errors: what a bot or an operator should be told."""

from __future__ import annotations

from keymint.engine.ports import (
    BybitFailure,
    BybitRateLimited,
    BybitUnreachable,
    CreateLost,
    MasterKeyRefused,
)
from keymint.errors import KeymintError, Unavailable, UpstreamError


def translate(exc: BybitFailure, *, doing: str) -> KeymintError:
    """The adapter's message names the failure's class and Bybit's code, never a secret."""
    if isinstance(exc, CreateLost):
        leftover = (
            "a key may exist without its secret; reconciliation deletes it"
            if exc.key_may_exist
            else "no key was left behind"
        )
        return Unavailable(f"{doing}: Bybit's answer was lost in transit; {leftover}; retry")
    if isinstance(exc, BybitUnreachable):
        return Unavailable(f"{doing}: Bybit could not be reached ({exc.message}); retry")
    if isinstance(exc, BybitRateLimited):
        return UpstreamError(f"{doing}: Bybit rate-limited the request ({exc.message}); retry")
    if isinstance(exc, MasterKeyRefused):
        return UpstreamError(
            f"{doing}: Bybit refused keymint's master key ({exc.message}); check the master "
            "credential, its permissions and its IP binding"
        )
    return UpstreamError(f"{doing}: Bybit refused the request: {exc.message}")
