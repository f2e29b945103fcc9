"""Where role definitions come from: a YAML roles file (read-only, e.g. rendered by the Helm
chart) and definitions written through the API into Vault. A name defined in the file is never
shadowed. Dynamic and static roles are separate name spaces, as in Vault."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic

import yaml

from keymint.engine.ports import KV
from keymint.engine.roles import (
    Role,
    StaticRole,
    Template,
    parse_definition,
    parse_role,
    parse_static_role,
)
from keymint.engine.store import data_of, role_path, with_cas_retry
from keymint.errors import BadRequest, Conflict, NotFound


class RoleSource(StrEnum):
    FILE = "file"
    API = "api"


@dataclass(frozen=True)
class StoredRole(Generic[Template]):
    role: Template
    source: RoleSource


class RolesFileError(ValueError):
    """The roles file is unreadable or a role in it is invalid; keymint refuses to start."""


@dataclass(frozen=True)
class RolesFile:
    roles: dict[str, Role] = field(default_factory=dict)
    static_roles: dict[str, StaticRole] = field(default_factory=dict)


def load_roles_file(path: Path) -> RolesFile:
    """`roles: {name: {...}}` and `static_roles: {name: {...}}` from a YAML file, all validated."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RolesFileError(f"{path}: cannot read roles file: {exc}") from None
    if not isinstance(document, dict):
        raise RolesFileError(f"{path}: expected a mapping with a 'roles' mapping")
    unknown = set(document) - {"roles", "static_roles"}
    if unknown:
        raise RolesFileError(f"{path}: unknown top-level keys {sorted(unknown)}")
    return RolesFile(
        roles=_section(path, document, "roles", parse_role),
        static_roles=_section(path, document, "static_roles", parse_static_role),
    )


def _section(
    path: Path,
    document: dict[str, Any],
    section: str,
    parse: Callable[[str, dict[str, Any]], Template],
) -> dict[str, Template]:
    bodies = document.get(section) or {}
    if not isinstance(bodies, dict):
        raise RolesFileError(f"{path}: expected '{section}' to be a mapping")
    parsed: dict[str, Template] = {}
    for name, body in bodies.items():
        if not isinstance(body, dict):
            raise RolesFileError(f"{path}: {section} {name!r} must be a mapping")
        try:
            parsed[str(name)] = parse(str(name), body)
        except BadRequest as exc:
            raise RolesFileError(f"{path}: {exc.message}") from None
    return parsed


class DefinitionStore(Generic[Template]):
    """One kind of definition: from the file (read-only) or stored in Vault at `path(name)`."""

    def __init__(
        self,
        kv: KV,
        from_file: dict[str, Template],
        *,
        model: type[Template],
        path: Callable[[str], str],
    ) -> None:
        self._kv = kv
        self._file = from_file
        self._model = model
        self._path = path

    async def get(self, name: str) -> StoredRole[Template]:
        if name in self._file:
            return StoredRole(self._file[name], RoleSource.FILE)
        found = await self._kv.read(self._path(name))
        if found is None:
            raise NotFound(f"{self._model.kind} {name!r} not found")
        return StoredRole(self._model.model_validate(found.data), RoleSource.API)

    async def names(self) -> dict[str, RoleSource]:
        listed = await self._kv.list(self._path(""))
        stored = {n: RoleSource.API for n in listed if not n.endswith("/")}
        return dict(sorted({**stored, **dict.fromkeys(self._file, RoleSource.FILE)}.items()))

    async def put(self, name: str, body: dict[str, Any]) -> tuple[Template, Template | None]:
        """(the definition, the one it replaced). File definitions are read-only here."""
        self.ensure_writable(name, "changed")
        definition = parse_definition(self._model, name, body)

        async def attempt() -> Template | None:
            data, version = data_of(await self._kv.read(self._path(name)))
            await self._kv.write(self._path(name), definition.model_dump(mode="json"), cas=version)
            return self._model.model_validate(data) if data else None

        replaced = await with_cas_retry(attempt, what=f"writing {self._model.kind} {name!r}")
        return definition, replaced

    async def remove(self, name: str) -> None:
        self.ensure_writable(name, "deleted")
        found = await self._kv.read(self._path(name))
        if found is None:
            raise NotFound(f"{self._model.kind} {name!r} not found")
        await self._kv.delete(self._path(name), cas=found.version)

    def ensure_writable(self, name: str, verb: str) -> None:
        if name in self._file:
            raise BadRequest(
                f"{self._model.kind} {name!r} is defined in the roles file and cannot be {verb} "
                "through the API; change the roles file (or the Helm values) instead"
            )


class RoleStore(DefinitionStore[Role]):
    def __init__(self, kv: KV, file_roles: dict[str, Role]) -> None:
        super().__init__(kv, file_roles, model=Role, path=role_path)

    async def delete(self, name: str, *, live_leases: int) -> None:
        """Refused while the role has leases, so no live key outlives the role that explains it."""
        self.ensure_writable(name, "deleted")
        if live_leases:
            raise Conflict(
                f"role {name!r} has {live_leases} live lease(s): revoke them first or delete "
                "with ?revoke=true"
            )
        await self.remove(name)
