"""What every key keymint creates is made from: the template dynamic and static roles share,
so a key's permissions, IPs and note are checked the same way whichever role made it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from keymint.engine.durations import DURATION_SCHEMA, parse_duration
from keymint.engine.permissions import Permissions, validate_permissions
from keymint.errors import BadRequest

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = (
    "lower-case letters, digits, '-' and '_', at most 63 characters, the first not '-' or '_'"
)
# Bybit documents no cap on IPs per key; 20 keeps a role reviewable and well inside any limit.
MAX_IPS = 20
DAY_S = 86400


def _positive_duration(value: Any, info: ValidationInfo) -> int:
    seconds = parse_duration(value, field=str(info.field_name))
    if seconds == 0:
        raise ValueError("must be at least one second")
    return seconds


# A Vault duration string or seconds, stored as whole seconds.
Seconds = Annotated[
    int,
    BeforeValidator(_positive_duration),
    WithJsonSchema(DURATION_SCHEMA, mode="validation"),
]


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
            raise ValueError(NAME_RULE)
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
                address = ipaddress.IPv4Address(ip)
            except ValueError:
                raise ValueError(f"{ip!r} is not an IPv4 address") from None
            # None of these is a host's egress address: a key pinned to one works nowhere.
            if address.is_unspecified or address.is_multicast or address.is_reserved:
                raise ValueError(
                    f"{ip!r} is not a host address (unspecified, multicast, broadcast or reserved)"
                )
        if len(set(value)) != len(value):
            raise ValueError("an IP is listed twice")
        return value


Template = TypeVar("Template", bound=KeyTemplate)


def parse_definition(
    model: type[Template],
    name: str,
    data: dict[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
) -> Template:
    """A validated definition, or BadRequest whose message names every bad field."""
    if "name" in data and data["name"] != name:
        raise BadRequest(f"name: body says {data['name']!r} but the path says {name!r}")
    try:
        return model.model_validate({**data, "name": name}, context=context)
    except ValidationError as exc:
        raise BadRequest(f"{model.kind} {name!r}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, `field: reason`, without echoing input values."""
    return "; ".join(describe_errors(exc.errors(include_input=False, include_url=False)))


def describe_errors(errors: Sequence[Mapping[str, Any]], *, skip: Iterable[str] = ()) -> list[str]:
    """`field: reason` for each of pydantic's errors; `skip` drops location parts such as
    FastAPI's `body`."""
    skipped = set(skip)
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            parts.append("body: malformed JSON")
            continue
        where = err.get("loc", ())
        loc = ".".join(str(p) for p in where if p not in skipped) or ("body" if where else "")
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        # A check across fields names its fields itself.
        parts.append(f"{loc}: {msg}" if loc else msg)
    return parts
