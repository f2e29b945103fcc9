"""The command line's side of keymint's HTTP API: it calls with the operator's own Vault token,
as the `vault` CLI does, so keymint authorises it by the same policies as any caller."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

# A reconciliation pass lists every managed sub-account at Bybit's pace before it answers.
TIMEOUT_S = 600.0


class ApiError(Exception):
    """keymint could not be reached, or refused the call; the message says why."""


def vault_token() -> str:
    token = os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")
    if not token:
        raise ApiError("no Vault token: set VAULT_TOKEN (or BAO_TOKEN), as for the vault CLI")
    return token


def call_api(
    method: str, path: str, *, addr: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON answer of a successful call; an error answer's messages become an ApiError."""
    try:
        response = httpx.request(
            method,
            addr.rstrip("/") + path,
            params=params,
            headers={"X-Vault-Token": vault_token()},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot reach keymint at {addr}: {type(exc).__name__}") from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise ApiError(f"HTTP {response.status_code}: not a JSON answer from {addr}") from None
    if response.is_error:
        errors = body.get("errors") or ["no error message"]
        raise ApiError(f"HTTP {response.status_code}: {'; '.join(map(str, errors))}")
    return body
