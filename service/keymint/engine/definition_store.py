"""Where role definitions live: the roles file (read-only, e.g. rendered by the Helm chart) and
definitions written through the API into Vault. A name defined in the file is never shadowed.
Dynamic and static roles are separate name spaces, as in Vault."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic

from keymint.engine.ports import KV
from keymint.engine.records import data_of, with_cas_retry
from keymint.engine.templates import Template, parse_definition
from keymint.errors import BadRequest, NotFound


class RoleSource(StrEnum):
    FILE = "file"
    API = "api"


@dataclass(frozen=True)
class StoredRole(Generic[Template]):
    role: Template
    source: RoleSource


class DefinitionStore(Generic[Template]):
    """One kind of definition: from the file (read-only) or stored in Vault at `path(name)`."""

    def __init__(
        self,
        kv: KV,
        from_file: dict[str, Template],
        *,
        model: type[Template],
        path: Callable[[str], str],
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """`context` reaches the model's validators when a definition is written (limits
        such as the system's maximum TTL)."""
        self._context = context
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

    async def exists(self, name: str) -> bool:
        return name in self._file or await self._kv.read(self._path(name)) is not None

    async def all(self) -> dict[str, Template]:
        """Every definition, file and stored."""
        found = {}
        for name in await self.names():
            try:
                found[name] = (await self.get(name)).role
            except NotFound:
                continue  # deleted since it was listed
        return found

    async def names(self) -> dict[str, RoleSource]:
        listed = await self._kv.list(self._path(""))
        stored = {n: RoleSource.API for n in listed if not n.endswith("/")}
        return dict(sorted({**stored, **dict.fromkeys(self._file, RoleSource.FILE)}.items()))

    def parse(self, name: str, body: dict[str, Any]) -> Template:
        """The definition a write would store; file definitions are read-only here."""
        self.ensure_writable(name, "changed")
        return parse_definition(self._model, name, body, context=self._context)

    async def put(self, definition: Template) -> Template | None:
        """Stores a parsed definition; gives the one it replaced."""
        name = definition.name

        async def attempt() -> Template | None:
            data, version = data_of(await self._kv.read(self._path(name)))
            await self._kv.write(self._path(name), definition.model_dump(mode="json"), cas=version)
            return self._model.model_validate(data) if data else None

        return await with_cas_retry(attempt, what=f"writing {self._model.kind} {name!r}")

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
