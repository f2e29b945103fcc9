"""The roles file: `roles` and `static_roles` in YAML (e.g. rendered by the Helm chart), all
validated at start-up; a bad one stops keymint with the field named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keymint.engine.dynamic.role import Role, limits
from keymint.engine.static.role import StaticRole
from keymint.engine.templates import Template, parse_definition
from keymint.errors import BadRequest


class RolesFileError(ValueError):
    """The roles file is unreadable or a role in it is invalid; keymint refuses to start."""


@dataclass(frozen=True)
class RolesFile:
    roles: dict[str, Role] = field(default_factory=dict)
    static_roles: dict[str, StaticRole] = field(default_factory=dict)


def load_roles_file(path: Path, *, max_lease_ttl_s: int) -> RolesFile:
    """`roles: {name: {...}}` and `static_roles: {name: {...}}` from a YAML file, all validated
    as a write through the API would be."""
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
        roles=_section(path, document, "roles", Role, limits(max_lease_ttl_s)),
        static_roles=_section(path, document, "static_roles", StaticRole, None),
    )


def _section(
    path: Path,
    document: dict[str, Any],
    section: str,
    model: type[Template],
    context: Mapping[str, Any] | None,
) -> dict[str, Template]:
    bodies = document.get(section) or {}
    if not isinstance(bodies, dict):
        raise RolesFileError(f"{path}: expected '{section}' to be a mapping")
    parsed: dict[str, Template] = {}
    for name, body in bodies.items():
        if not isinstance(body, dict):
            raise RolesFileError(f"{path}: {section} {name!r} must be a mapping")
        try:
            parsed[str(name)] = parse_definition(model, str(name), body, context=context)
        except BadRequest as exc:
            raise RolesFileError(f"{path}: {exc.message}") from None
    return parsed
