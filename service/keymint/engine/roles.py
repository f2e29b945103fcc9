"""Roles: the permission templates a bot mints keys from."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keymint.engine.durations import parse_duration
from keymint.engine.permissions import Permissions, validate_permissions
from keymint.errors import BadRequest

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Bybit documents no cap on IPs per key; 20 keeps a role reviewable and well inside any limit.
MAX_IPS = 20


class Role(BaseModel):
    """A dynamic role. Durations arrive as Vault duration strings or seconds, stored as seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Role name, as in /v1/creds/{name}")
    subaccounts: list[int] = Field(
        min_length=1, description="Pool of Bybit sub-account UIDs keys are minted on"
    )
    permissions: Permissions = Field(description="Bybit permission groups and values")
    read_only: bool = Field(default=False, description="Mint read-only keys")
    ips: list[str] = Field(
        min_length=1, max_length=MAX_IPS, description="Egress IPv4 addresses keys are pinned to"
    )
    ttl: int = Field(default=3600, description="Default lease TTL in seconds")
    max_ttl: int = Field(default=86400, description="Maximum lease lifetime in seconds")
    note_prefix: str = Field(
        default="keymint",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
        description="Prefix of the Bybit key note, `<prefix>:<lease id>`",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ROLE_NAME.fullmatch(value):
            raise ValueError("lower-case letters, digits, '-' and '_', at most 63 characters")
        return value

    @field_validator("subaccounts")
    @classmethod
    def _subaccounts(cls, value: list[int]) -> list[int]:
        if any(uid <= 0 for uid in value):
            raise ValueError("sub-account UIDs are positive integers")
        if len(set(value)) != len(value):
            raise ValueError("a sub-account UID is listed twice")
        return value

    @field_validator("permissions", mode="before")
    @classmethod
    def _permissions(cls, value: Any) -> Permissions:
        if not isinstance(value, dict):
            raise ValueError("expected an object of permission groups")
        return validate_permissions(value)

    @field_validator("ips")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        for ip in value:
            if ip.strip() == "*":
                raise ValueError("'*' (no IP restriction) is never allowed; pin the egress IPs")
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise ValueError(f"{ip!r} is not an IPv4 address") from None
        if len(set(value)) != len(value):
            raise ValueError("an IP is listed twice")
        return value

    @field_validator("ttl", "max_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: Any) -> int:
        seconds = parse_duration(value, field=str(info.field_name))
        if seconds == 0:
            raise ValueError("must be at least one second")
        return seconds

    @model_validator(mode="after")
    def _ttl_within_max(self) -> Role:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl}s) exceeds max_ttl ({self.max_ttl}s)")
        return self


def parse_role(name: str, data: dict[str, Any]) -> Role:
    """A validated role, or BadRequest whose message names every bad field."""
    if "name" in data and data["name"] != name:
        raise BadRequest(f"name: body says {data['name']!r} but the path says {name!r}")
    try:
        return Role.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise BadRequest(f"role {name!r}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, `field: reason`, without echoing input values."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
