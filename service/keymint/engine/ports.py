"""What the engine needs from Vault and Bybit, in the engine's own types.

The adapters (`keymint.vault.KvStore`, `keymint.bybit.port.BybitPort`) satisfy these protocols
and translate their system's errors into the ones defined here at their own edge, so the engine
never sees an hvac, httpx or Bybit-client type.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import SecretStr


class Versioned(Protocol):
    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def version(self) -> int: ...


class KV(Protocol):
    """KV v2 under keymint's prefix. `cas=0` creates only; a stale version raises Conflict."""

    async def read(self, path: str) -> Versioned | None: ...

    async def write(self, path: str, data: Mapping[str, Any], *, cas: int) -> int: ...

    async def delete(self, path: str, *, cas: int) -> None: ...

    async def list(self, folder: str = "") -> builtins.list[str]: ...

    def location(self, path: str) -> str:
        """Where `path` is, as an operator writes it (`bao kv put <location>`)."""
        ...


class Tokens(Protocol):
    """Vault's token store, asked by accessor: the engine never holds a caller's token."""

    async def token_alive(self, accessor: str) -> bool:
        """False only when Vault says the token no longer exists (revoked or expired); a Vault
        that cannot answer raises `keymint.errors.Unavailable`, which never means gone."""
        ...


# --- Bybit, as the engine sees it ------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """What a key is made of: its rights and the egress IPs it is pinned to."""

    permissions: dict[str, list[str]]
    read_only: bool
    ips: list[str]


@dataclass(frozen=True)
class ListedKey:
    """A key as Bybit lists it on a sub-account. Times are Unix seconds."""

    api_key: str
    note: str
    spec: KeySpec
    created_at: float | None = None


@dataclass(frozen=True)
class CreatedKey:
    """A key Bybit just made: the only time its secret is ever seen."""

    api_key: str
    secret: SecretStr = field(repr=False)


class Bybit(Protocol):
    """The part of Bybit's user module keymint uses, signed with the master credential."""

    async def create_key(self, sub_uid: int, *, note: str, spec: KeySpec) -> CreatedKey: ...

    async def update_key(self, api_key: str, spec: KeySpec) -> None: ...

    async def delete_key(self, api_key: str, sub_uid: int) -> None:
        """Deleted and confirmed gone by listing; a key that was already gone counts."""
        ...

    async def list_keys(self, sub_uid: int) -> builtins.list[ListedKey]: ...

    async def master_key_expiry(self) -> float | None:
        """When the master key expires (None: IP-bound and permanent)."""
        ...

    async def create_subaccount(self, username: str, *, note: str) -> int: ...

    async def subaccount_uids(self) -> builtins.set[int]:
        """Every sub-account of the master."""
        ...


# --- Bybit's failures, as the engine sees them ------------------------------------------------


class BybitFailure(Exception):
    """Bybit did not do what was asked. `message` names the failure and Bybit's code, never a
    request, a response body or a secret, so it may be shown to callers."""

    def __init__(self, message: str, *, ret_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ret_code = ret_code


class BybitUnreachable(BybitFailure):
    """No usable answer (network, timeout, 5xx): nothing is known to have happened."""


class BybitRateLimited(BybitFailure):
    """Bybit's rate limit was hit."""


class MasterKeyRefused(BybitFailure):
    """Bybit refused keymint's master key: bad or expired, lacking a permission, or called
    from an IP it is not bound to. The credential in Vault may have been rotated."""


class BybitRefused(BybitFailure):
    """Bybit refused the request itself; retrying the same will not help."""


class KeyCapSuspected(BybitRefused):
    """A refusal of a create that may mean the sub-account is at Bybit's key cap. Bybit does
    not document the code, so the engine confirms it by listing before believing it."""


class CreateLost(BybitFailure):
    """A create's answer was lost. `key_may_exist`: a key may be live at Bybit without its
    secret (the adapter could not show it was never made or has been deleted)."""

    def __init__(self, message: str, *, key_may_exist: bool) -> None:
        super().__init__(message)
        self.key_may_exist = key_may_exist


class DeleteUnconfirmed(BybitFailure):
    """Bybit accepted a delete, yet still lists the key."""
