"""Who asked for a key, as Vault told us: never the token itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Caller(BaseModel):
    model_config = ConfigDict(frozen=True)

    entity_id: str = ""
    display_name: str = ""
    policies: list[str] = Field(default_factory=list)
    accessor: str = ""

    @property
    def identity(self) -> str:
        """What caps and idempotency keys are scoped by: the entity, else the token."""
        return self.entity_id or self.accessor
