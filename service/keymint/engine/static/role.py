"""A static role: one long-lived key on one sub-account, replaced every `rotation_period`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from keymint.engine.definition_store import DefinitionStore
from keymint.engine.ports import KV
from keymint.engine.templates import DAY_S, KeyTemplate, Seconds

# Bybit expires keys after 90 days (unbound ones always; its rules for bound ones are thin). A
# static key is replaced and deleted well inside that, leaving weeks to retry failed rotations.
MAX_STATIC_LIFETIME_S = 60 * DAY_S


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

    # After the fields, so that it also holds when `overlap` is left at its default.
    @model_validator(mode="after")
    def _lifetime(self) -> StaticRole:
        period, overlap = self.rotation_period, self.overlap
        if overlap >= period:
            raise ValueError(f"overlap: must be shorter than rotation_period ({period}s)")
        if period + overlap > MAX_STATIC_LIFETIME_S:
            raise ValueError(
                f"rotation_period: rotation_period + overlap is {(period + overlap) / DAY_S:g} "
                f"days, over the {MAX_STATIC_LIFETIME_S // DAY_S}-day limit: a key must be gone "
                "well inside Bybit's 90-day key expiry, with time left to retry a failed rotation"
            )
        return self


def static_role_path(name: str) -> str:
    return f"static-roles/{name}"


class StaticRoleStore(DefinitionStore[StaticRole]):
    def __init__(self, kv: KV, file_roles: dict[str, StaticRole]) -> None:
        super().__init__(kv, file_roles, model=StaticRole, path=static_role_path)
