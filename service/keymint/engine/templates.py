"""What every key keymint creates is made from: the template dynamic and static roles share,
so a key's permissions, IPs and note are checked the same way whichever role made it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from keymint.engine.durations import parse_duration
from keymint.engine.permissions import Permissions, validate_permissions
from keymint.errors import BadRequest

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Bybit documents no cap on IPs per key; 20 keeps a role reviewable and well inside any limit.
MAX_IPS = 20
DAY_S = 86400


def _positive_duration(value: Any, info: ValidationInfo) -> int:
    seconds = parse_duration(value, field=str(info.field_name))
    if seconds == 0:
        raise ValueError("must be at least one second")
    return seconds


# A Vault duration string or seconds, stored as whole seconds.
Seconds = Annotated[int, BeforeValidator(_positive_duration)]


class KeyTemplate(BaseModel):
    """What every Bybit key keymint creates is made from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str] = "role"

    name: str = Field(description="Role name, as in the API paths")
    permissions: Permissions = Field(description="Bybit permission groups and values")
    read_only: bool = Field(default=False, description="Create read-only keys")
    ips: list[str] = Field(
        min_length=1, max_length=MAX_IPS, description="Egress IPv4 addresses keys are pinned to"
    )
    note_prefix: str = Field(
        default="keymint",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
        description="Prefix of the Bybit key note, `<prefix>:<key id>`",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ROLE_NAME.fullmatch(value):
            raise ValueError("lower-case letters, digits, '-' and '_', at most 63 characters")
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


Template = TypeVar("Template", bound=KeyTemplate)


def parse_definition(model: type[Template], name: str, data: dict[str, Any]) -> Template:
    """A validated definition, or BadRequest whose message names every bad field."""
    if "name" in data and data["name"] != name:
        raise BadRequest(f"name: body says {data['name']!r} but the path says {name!r}")
    try:
        return model.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise BadRequest(f"{model.kind} {name!r}: {describe_validation_error(exc)}") from None


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
