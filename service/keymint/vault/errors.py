"""What a failed Vault call means to keymint.

hvac's exceptions carry the request URL and Vault's response body, which can hold a token or a
secret value, so they never leave this package: `translate` turns each into a keymint error
whose message names only the operation, the logical path and the kind of failure.
"""

from __future__ import annotations

from collections.abc import Callable

import hvac.exceptions as hvac_errors
import requests

from keymint.errors import Conflict, KeymintError, NotFound, Unavailable

CAS_MISMATCH = "check-and-set parameter did not match the current version"


class VaultUnavailable(Unavailable):
    """Vault is unreachable, sealed, overloaded or failing."""


class NoActiveNode(requests.ConnectionError):
    """No address of an HA cluster answers as its active node (raised inside a Vault call)."""


class VaultDenied(Unavailable):
    """Vault refused keymint's own token: a deployment problem, not the caller's, so keymint
    is unavailable (503) until its policy or token is fixed."""


class VaultRejected(KeymintError):
    """Vault refused a request keymint made: a keymint bug or a mismatched Vault setup."""


class VaultLoginFailed(Unavailable):
    """keymint could not log in to Vault with its configured auth method."""


class CasConflict(Conflict):
    """The record changed since it was read; re-read and decide again."""


_UNAVAILABLE: tuple[tuple[type[hvac_errors.VaultError], str], ...] = (
    (hvac_errors.VaultDown, "sealed or in standby"),
    (hvac_errors.VaultNotInitialized, "not initialised"),
    (hvac_errors.RateLimitExceeded, "rate-limiting keymint"),
    (hvac_errors.InternalServerError, "failing (HTTP 500)"),
    (hvac_errors.BadGateway, "behind a failing gateway (HTTP 502)"),
)


def translate(
    exc: hvac_errors.VaultError | requests.RequestException,
    *,
    op: str,
    target: str,
    denied: Callable[[], KeymintError] | None = None,
) -> KeymintError:
    """The keymint error for `exc`; `denied` builds the error for a 401/403 answer."""
    where = f"{op} on {target!r}"
    if isinstance(exc, NoActiveNode):
        return VaultUnavailable(f"Vault has no active node ({where}: {exc})")
    if isinstance(exc, requests.RequestException):
        return VaultUnavailable(f"Vault is unreachable ({where}: {type(exc).__name__})")
    for kind, state in _UNAVAILABLE:
        if isinstance(exc, kind):
            return VaultUnavailable(f"Vault is {state} ({where})")
    if isinstance(exc, hvac_errors.Forbidden | hvac_errors.Unauthorized):
        if denied is not None:
            return denied()
        return VaultDenied(
            f"Vault denied keymint's own token {where}: check the policy attached to keymint"
        )
    if isinstance(exc, hvac_errors.InvalidRequest) and CAS_MISMATCH in str(exc.args[0] or ""):
        return CasConflict(f"{target!r} changed since it was read; re-read it and retry")
    if isinstance(exc, hvac_errors.InvalidPath):
        return NotFound(f"{target!r} does not exist in Vault")
    return VaultRejected(f"Vault rejected {where} ({type(exc).__name__})")
