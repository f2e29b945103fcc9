"""Where roles come from: a YAML roles file (read-only, e.g. rendered by the Helm chart) and
roles written through the API into Vault. A name defined in the file is never shadowed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from keymint.engine.ports import KV
from keymint.engine.roles import Role, parse_role
from keymint.engine.store import data_of, role_path, with_cas_retry
from keymint.errors import BadRequest, Conflict, NotFound


class RoleSource(StrEnum):
    FILE = "file"
    API = "api"


@dataclass(frozen=True)
class StoredRole:
    role: Role
    source: RoleSource


class RolesFileError(ValueError):
    """The roles file is unreadable or a role in it is invalid; keymint refuses to start."""


def load_roles_file(path: Path) -> dict[str, Role]:
    """`roles: {name: {...}}` from a YAML file, every role validated."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RolesFileError(f"{path}: cannot read roles file: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("roles", {}), dict):
        raise RolesFileError(f"{path}: expected a mapping with a 'roles' mapping")
    unknown = set(document) - {"roles"}
    if unknown:
        raise RolesFileError(f"{path}: unknown top-level keys {sorted(unknown)}")
    roles: dict[str, Role] = {}
    for name, body in (document.get("roles") or {}).items():
        if not isinstance(body, dict):
            raise RolesFileError(f"{path}: role {name!r} must be a mapping")
        try:
            roles[str(name)] = parse_role(str(name), body)
        except BadRequest as exc:
            raise RolesFileError(f"{path}: {exc.message}") from None
    return roles


class RoleStore:
    def __init__(self, kv: KV, file_roles: dict[str, Role]) -> None:
        self._kv = kv
        self._file = file_roles

    async def get(self, name: str) -> StoredRole:
        if name in self._file:
            return StoredRole(self._file[name], RoleSource.FILE)
        found = await self._kv.read(role_path(name))
        if found is None:
            raise NotFound(f"role {name!r} not found")
        return StoredRole(Role.model_validate(found.data), RoleSource.API)

    async def names(self) -> dict[str, RoleSource]:
        stored = {n: RoleSource.API for n in await self._kv.list("roles/") if not n.endswith("/")}
        return dict(sorted({**stored, **dict.fromkeys(self._file, RoleSource.FILE)}.items()))

    async def put(self, name: str, body: dict[str, Any]) -> tuple[Role, bool]:
        """(role, created). File roles are read-only through the API."""
        self.ensure_writable(name, "changed")
        role = parse_role(name, body)

        async def attempt() -> bool:
            data, version = data_of(await self._kv.read(role_path(name)))
            await self._kv.write(role_path(name), role.model_dump(mode="json"), cas=version)
            return not data

        return role, await with_cas_retry(attempt, what=f"writing role {name!r}")

    async def delete(self, name: str, *, live_leases: int) -> None:
        """Refused while the role has leases, so no live key outlives the role that explains it."""
        self.ensure_writable(name, "deleted")
        found = await self._kv.read(role_path(name))
        if found is None:
            raise NotFound(f"role {name!r} not found")
        if live_leases:
            raise Conflict(
                f"role {name!r} has {live_leases} live lease(s): revoke them first or delete "
                "with ?revoke=true"
            )
        await self._kv.delete(role_path(name), cas=found.version)

    def ensure_writable(self, name: str, verb: str) -> None:
        if name in self._file:
            raise BadRequest(
                f"role {name!r} is defined in the roles file and cannot be {verb} through the "
                "API; change the roles file (or the Helm values) instead"
            )
