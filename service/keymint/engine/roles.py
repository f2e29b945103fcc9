"""Roles: the templates keymint creates keys from.

A dynamic role mints a key per lease from a pool of sub-accounts; a static role keeps one
long-lived key on one sub-account and rotates it on a schedule. Both share `KeyTemplate`, so a
key's permissions, IPs and note are checked the same way whichever role made it.
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
    model_validator,
)

from keymint.engine.durations import parse_duration
from keymint.engine.permissions import Permissions, validate_permissions
from keymint.errors import BadRequest

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Bybit documents no cap on IPs per key; 20 keeps a role reviewable and well inside any limit.
MAX_IPS = 20
DAY_S = 86400
# Bybit expires keys after 90 days (unbound ones always; its rules for bound ones are thin). A
# static key is replaced and deleted well inside that, leaving weeks to retry failed rotations.
MAX_STATIC_LIFETIME_S = 60 * DAY_S


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


class Role(KeyTemplate):
    """A dynamic role: a key per lease, from a pool of sub-accounts."""

    subaccounts: list[int] = Field(
        min_length=1, description="Pool of Bybit sub-account UIDs keys are minted on"
    )
    ttl: Seconds = Field(default=3600, description="Default lease TTL in seconds")
    max_ttl: Seconds = Field(default=86400, description="Maximum lease lifetime in seconds")
    max_leases_per_caller: int | None = Field(
        default=None,
        ge=1,
        description="Live leases one caller (and instance id) may hold; a mint over the cap "
        "revokes that caller's oldest lease, so restarting bots do not eat the key limit",
    )
    warm_pool: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Keys created ahead and handed out at once, refilled within Bybit's "
        "create rate; they count against capacity",
    )
    auto_provision_max: int = Field(
        default=0,
        ge=0,
        description="When every sub-account is full, create sub-accounts until the pool has "
        "this many (0: never)",
    )

    @field_validator("subaccounts")
    @classmethod
    def _subaccounts(cls, value: list[int]) -> list[int]:
        if any(uid <= 0 for uid in value):
            raise ValueError("sub-account UIDs are positive integers")
        if len(set(value)) != len(value):
            raise ValueError("a sub-account UID is listed twice")
        return value

    @model_validator(mode="after")
    def _ttl_within_max(self) -> Role:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl}s) exceeds max_ttl ({self.max_ttl}s)")
        return self


class StaticRole(KeyTemplate):
    """A static role: one long-lived key, replaced every `rotation_period`; the replaced key
    keeps working for `overlap`, so readers can switch before it is deleted."""

    kind: ClassVar[str] = "static role"

    subaccount_uid: int = Field(gt=0, description="The Bybit sub-account UID the key lives on")
    rotation_period: Seconds = Field(
        default=7 * DAY_S, description="How often the key is replaced, in seconds"
    )
    overlap: Seconds = Field(
        default=3600,
        description="How long a replaced key keeps working, in seconds; longer than readers "
        "take to pick up the new one (Vault Agent re-renders KV secrets every 5 minutes)",
    )

    @field_validator("overlap")
    @classmethod
    def _overlap(cls, value: int, info: ValidationInfo) -> int:
        period = info.data.get("rotation_period")
        if period is None:
            return value
        if value >= period:
            raise ValueError(f"must be shorter than rotation_period ({period}s)")
        if period + value > MAX_STATIC_LIFETIME_S:
            raise ValueError(
                f"rotation_period + overlap is {(period + value) / DAY_S:g} days, over the "
                f"{MAX_STATIC_LIFETIME_S // DAY_S}-day limit: a key must be gone well inside "
                "Bybit's 90-day key expiry, with time left to retry a failed rotation"
            )
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


def parse_role(name: str, data: dict[str, Any]) -> Role:
    return parse_definition(Role, name, data)


def parse_static_role(name: str, data: dict[str, Any]) -> StaticRole:
    return parse_definition(StaticRole, name, data)


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
