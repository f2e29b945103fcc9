"""Vault's response envelope, so Vault's clients and habits carry over unchanged."""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

T = TypeVar("T")

NO_STORE = {"Cache-Control": "no-store"}


class WrapInfoOut(BaseModel):
    token: str = Field(json_schema_extra={"format": "password", "x-sensitive": True})
    accessor: str
    ttl: int
    creation_time: str
    creation_path: str


class VaultResponse(BaseModel, Generic[T]):
    request_id: str
    lease_id: str = ""
    lease_duration: int = 0
    renewable: bool = False
    data: T | None = None
    warnings: list[str] | None = None
    wrap_info: WrapInfoOut | None = None
    auth: None = None


class ErrorResponse(BaseModel):
    errors: list[str]


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request",
        401: "No Vault token",
        403: "The token lacks the capability",
        404: "Unknown role or lease",
        409: "Changed by another request at the same time; retry",
        503: "Vault or Bybit unreachable",
    }.items()
}


def envelope(
    data: Any = None,
    *,
    lease_id: str = "",
    lease_duration: int = 0,
    renewable: bool = False,
    warnings: list[str] | None = None,
    wrap_info: WrapInfoOut | None = None,
    status_code: int = 200,
    no_store: bool = False,
) -> JSONResponse:
    body = VaultResponse[Any](
        request_id=str(uuid.uuid4()),
        lease_id=lease_id,
        lease_duration=lease_duration,
        renewable=renewable,
        data=data,
        warnings=warnings or None,
        wrap_info=wrap_info,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status_code,
        headers=NO_STORE if no_store else None,
    )
