"""What the engine needs from the outside world, as protocols.

The adapters (`keymint.vault.KvStore`, `keymint.bybit.BybitClient`) satisfy these; the engine
never imports hvac or httpx, so domain rules read without transport noise.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from keymint.bybit.models import ApiKeyInfo, CallingKeyInfo, CreatedApiKey, SubMember


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


class BybitKeys(Protocol):
    """The part of Bybit's user module that minting, revocation and reconciliation use."""

    async def create_sub_api_key(
        self,
        subuid: str | int,
        *,
        note: str,
        permissions: Mapping[str, Sequence[str]],
        read_only: bool,
        ips: Sequence[str],
    ) -> CreatedApiKey: ...

    async def update_sub_api_key(
        self,
        api_key: str,
        *,
        permissions: Mapping[str, Sequence[str]],
        read_only: bool,
        ips: Sequence[str],
    ) -> ApiKeyInfo: ...

    async def delete_sub_api_key(self, api_key: str) -> None: ...

    async def list_sub_api_keys(self, sub_uid: str | int) -> builtins.list[ApiKeyInfo]: ...

    async def find_sub_api_key_by_note(
        self, sub_uid: str | int, note: str
    ) -> ApiKeyInfo | None: ...

    async def query_api(self) -> CallingKeyInfo: ...

    async def create_sub_member(
        self, username: str, member_type: int = 1, note: str | None = None
    ) -> SubMember: ...
