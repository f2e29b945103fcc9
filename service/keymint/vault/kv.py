"""keymint's records in Vault KV v2, where every change is a check-and-set on the version read.

Deleting. KV v2 can delete a key's metadata only unconditionally, so `delete` first writes a
tombstone with check-and-set on the version the caller read (this write is the delete: a
concurrent writer makes it fail with `CasConflict`), then removes the key. `read` treats a
tombstone as absent, and nobody can write over one, because the only version a writer could
name is hidden from it; the removal therefore never destroys anybody's write. The next
create-only write takes over a version soft-deleted by an operator at once, and a tombstone
left by a crash between the two steps once it is older than `tombstone_grace_s`; only a
deleter stalled for longer than that between its two steps could remove such a new record.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import hvac
import hvac.exceptions as hvac_errors

from keymint.errors import KeymintError
from keymint.vault.endpoint import OperationHook, call, no_hook
from keymint.vault.errors import CasConflict

log = logging.getLogger(__name__)

TOMBSTONE = "__keymint_deleted_at__"


@dataclass(frozen=True)
class Versioned:
    data: dict[str, Any] = field(repr=False)
    version: int


@dataclass(frozen=True)
class _Current:
    """The latest version of a key; `data` is None when that version was soft-deleted."""

    data: dict[str, Any] | None = field(repr=False)
    version: int

    def live(self) -> Versioned | None:
        if self.data is None or TOMBSTONE in self.data:
            return None
        return Versioned(self.data, self.version)

    def abandoned(self, grace_s: float) -> bool:
        if self.data is None:
            return True
        deleted_at = self.data.get(TOMBSTONE)
        return isinstance(deleted_at, float) and time.time() - deleted_at > grace_s


class KvStore:
    """Records under `<prefix>/` in the KV v2 engine mounted at `mount`."""

    def __init__(
        self,
        client: hvac.Client,
        *,
        mount: str = "secret",
        prefix: str = "keymint",
        hook: OperationHook = no_hook,
        tombstone_grace_s: float = 60.0,
    ) -> None:
        self._kv = client.secrets.kv.v2
        self._mount = mount.strip("/")
        self._prefix = prefix.strip("/")
        self._hook = hook
        self._grace_s = tombstone_grace_s

    def __repr__(self) -> str:
        return f"KvStore({self._mount}/{self._prefix})"

    def location(self, path: str) -> str:
        return f"{self._mount}/{self._prefix}/{path.strip('/')}"

    async def read(self, path: str) -> Versioned | None:
        current = await self._current(self._key(path))
        return None if current is None else current.live()

    async def write(self, path: str, data: Mapping[str, Any], *, cas: int) -> int:
        """Store `data` if the key is at version `cas` (0: absent); returns the new version."""
        key = self._key(path)
        if TOMBSTONE in data:
            raise ValueError(f"{TOMBSTONE!r} is reserved")
        try:
            return await self._put(key, dict(data), cas, op="kv.write")
        except CasConflict:
            if cas != 0:
                raise
            current = await self._current(key)
            if current is not None and not current.abandoned(self._grace_s):
                raise
            version = current.version if current else 0
            return await self._put(key, dict(data), version, op="kv.write")

    async def delete(self, path: str, *, cas: int) -> None:
        """Delete the key if it is still at version `cas`."""
        key = self._key(path)
        if cas < 1:
            raise ValueError("delete needs the version that was read")
        await self._put(key, {TOMBSTONE: time.time()}, cas, op="kv.delete")
        try:
            await call(
                lambda: self._kv.delete_metadata_and_all_versions(key, mount_point=self._mount),
                op="kv.destroy",
                target=key,
                hook=self._hook,
            )
        except KeymintError as exc:
            log.warning("tombstone left at %r until the next create: %s", key, exc.message)

    async def list(self, folder: str = "") -> builtins.list[str]:
        """Key names in `folder`; sub-folders end with '/'. May name a key being deleted."""
        key = self._key(folder, allow_root=True)

        def keys() -> builtins.list[str]:
            try:
                resp = self._kv.list_secrets(key, mount_point=self._mount)
            except hvac_errors.InvalidPath:
                return []
            return [str(name) for name in resp["data"]["keys"]]

        return await call(keys, op="kv.list", target=key, hook=self._hook)

    async def _current(self, key: str) -> _Current | None:
        def get() -> _Current | None:
            try:
                resp = self._kv.read_secret_version(
                    key, mount_point=self._mount, raise_on_deleted_version=False
                )
            except hvac_errors.InvalidPath:
                return None
            body = resp["data"]
            return _Current(body["data"], int(body["metadata"]["version"]))

        return await call(get, op="kv.read", target=key, hook=self._hook)

    async def _put(self, key: str, data: dict[str, Any], cas: int, op: str) -> int:
        def put() -> int:
            resp = self._kv.create_or_update_secret(key, data, cas=cas, mount_point=self._mount)
            return int(resp["data"]["version"])

        return await call(put, op=op, target=key, hook=self._hook)

    def _key(self, path: str, *, allow_root: bool = False) -> str:
        inner = path.strip("/")
        parts = inner.split("/") if inner else []
        if any(p in ("", ".", "..") for p in parts) or not (parts or allow_root):
            raise ValueError(f"invalid KV path {path!r}")
        return "/".join([self._prefix, *parts])
