"""Static roles: CRUD, reading the current key, and rotating it now.

Bots may also read the key straight from Vault at `<kv mount>/<prefix>/static-creds/<name>`
(`current.api_key`, `current.api_secret`), e.g. with a Vault Agent template.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from keymint.api.bodies import definition_body
from keymint.api.deps import (
    RoleName,
    StaticRolesDep,
    require,
    require_write,
)
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.api.roles import listing
from keymint.engine.caller import Caller
from keymint.engine.durations import iso
from keymint.engine.static.admin import StaticView
from keymint.engine.static.role import StaticRole
from keymint.engine.static.rotation import StaticCreds

router = APIRouter(tags=["static-roles"])

UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: ERRORS[400] | {"description": "Bybit refused or rate-limited"},
    409: ERRORS[400] | {"description": "Another request rotated the role at the same time"},
}


class StaticCredsData(BaseModel):
    api_key: str = Field(description="The Bybit API key (public id)")
    api_secret: str = Field(
        description="The Bybit API secret of the current key",
        json_schema_extra={"format": "password", "x-sensitive": True},
    )
    subaccount_uid: int
    permissions: dict[str, list[str]]
    ips: list[str] = Field(description="The egress IPs the key is pinned to")
    read_only: bool
    last_rotated_at: str | None = Field(description="When the current key was made (RFC 3339)")
    next_rotation_at: str = Field(description="When keymint replaces it (RFC 3339)")
    ttl: int = Field(description="Seconds until the next rotation")
    rotation_period: int = Field(description="Seconds between rotations")


class RotatedData(BaseModel):
    api_key: str = Field(description="The new current key; its secret is in static-creds only")
    generation: int
    last_rotated_at: str
    next_rotation_at: str


def rotation_status(state: StaticCreds) -> dict[str, Any]:
    """The rotation's progress without any secret."""
    previous = state.previous
    return {
        "generation": state.generation,
        "api_key": state.current.api_key if state.current else None,
        "previous_api_key": previous.api_key if previous else None,
        "previous_deleted_after": iso(previous.delete_after) if previous else None,
        "last_rotated_at": iso(state.last_rotated_at) if state.last_rotated_at else None,
        "next_rotation_at": iso(state.next_rotation_at),
        "failures": state.failures,
        "last_error": state.last_error,
    }


def static_role_data(view: StaticView) -> dict[str, Any]:
    return {
        **view.role.model_dump(exclude={"name"}),
        "name": view.role.name,
        "source": view.source.value,
        "rotation": rotation_status(view.state),
    }


@router.get(
    "/v1/static-roles",
    operation_id="static_roles_list",
    summary="List static roles",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def list_static_roles(
    static: StaticRolesDep, _: Annotated[Caller, Depends(require("list", "static-roles"))]
) -> JSONResponse:
    return listing(await static.names())


@router.get(
    "/v1/static-roles/{name}",
    operation_id="static_roles_read",
    summary="Read a static role and its rotation status",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def read_static_role(
    name: RoleName,
    static: StaticRolesDep,
    _: Annotated[Caller, Depends(require("read", "static-roles/{name}"))],
) -> JSONResponse:
    return envelope(static_role_data(await static.read(name)))


@router.put(
    "/v1/static-roles/{name}",
    operation_id="static_roles_write",
    summary="Create or update a static role",
    response_model=VaultResponse[dict[str, Any]],
    responses={**ERRORS, **UPSTREAM},
    openapi_extra=definition_body(
        StaticRole,
        {
            "subaccount_uid": 100002,
            "permissions": {"Spot": ["SpotTrade"]},
            "ips": ["203.0.113.7"],
            "rotation_period": "7d",
            "overlap": "1h",
        },
    ),
)
async def write_static_role(
    name: RoleName,
    static: StaticRolesDep,
    body: Annotated[dict[str, Any], Body()],
    _: Annotated[
        Caller,
        Depends(
            require_write("static-roles/{name}", lambda found, name: found.static.exists(name))
        ),
    ],
) -> JSONResponse:
    """Creating needs `create`, changing needs `update` on `static-roles/<name>`.

    The first key is created here. If Bybit refuses, the role is still saved, the answer warns
    that its key is pending, and keymint retries with backoff. A change to what the key is made
    of (sub-account, permissions, IPs, read-only) replaces the key the same way.
    """
    view = await static.write(name, body)
    return envelope(static_role_data(view), warnings=view.warnings)


@router.delete(
    "/v1/static-roles/{name}",
    operation_id="static_roles_delete",
    summary="Delete a static role and its keys",
    status_code=204,
    responses={**ERRORS, **UPSTREAM},
)
async def delete_static_role(
    name: RoleName,
    static: StaticRolesDep,
    _: Annotated[Caller, Depends(require("delete", "static-roles/{name}"))],
) -> Response:
    """Deletes the keys at Bybit, then the records; if Bybit refuses, nothing is forgotten."""
    await static.delete(name)
    return Response(status_code=204)


@router.get(
    "/v1/static-creds/{name}",
    operation_id="static_creds_read",
    summary="Read a static role's current key",
    response_model=VaultResponse[StaticCredsData],
    responses=ERRORS,
)
async def read_static_creds(
    name: RoleName,
    static: StaticRolesDep,
    _: Annotated[Caller, Depends(require("read", "static-creds/{name}"))],
) -> JSONResponse:
    """The current key with its secret (`Cache-Control: no-store`); read it again before `ttl`
    runs out. The key it replaces keeps working for the role's `overlap`."""
    found = await static.current(name)
    state, now = found.state, static.now()
    data = StaticCredsData(
        **found.current.model_dump(include={"api_key", "api_secret", "subaccount_uid"}),
        **found.role.model_dump(include={"permissions", "ips", "read_only", "rotation_period"}),
        last_rotated_at=iso(state.last_rotated_at) if state.last_rotated_at else None,
        next_rotation_at=iso(state.next_rotation_at),
        ttl=max(0, int(state.next_rotation_at - now)),
    )
    return envelope(data.model_dump(), lease_duration=data.ttl, no_store=True)


@router.put(
    "/v1/rotate-role/{name}",
    operation_id="static_roles_rotate_put",
    summary="Rotate a static role's key now (PUT, as the Vault CLI sends writes)",
    response_model=VaultResponse[RotatedData],
    responses={**ERRORS, **UPSTREAM},
)
@router.post(
    "/v1/rotate-role/{name}",
    operation_id="static_roles_rotate",
    summary="Rotate a static role's key now",
    response_model=VaultResponse[RotatedData],
    responses={**ERRORS, **UPSTREAM},
)
async def rotate_role(
    name: RoleName,
    static: StaticRolesDep,
    _: Annotated[Caller, Depends(require("update", "rotate-role/{name}"))],
) -> JSONResponse:
    """A new key becomes current; the one it replaces keeps working for `overlap`. A key still
    inside an earlier overlap is deleted first, so a role never holds more than two keys. If
    Bybit refuses, the current key stays and the error is the answer."""
    rotated = await static.rotate(name)
    state = rotated.state
    data = RotatedData(
        api_key=rotated.outcome.api_key or "",
        generation=rotated.outcome.generation,
        last_rotated_at=iso(state.last_rotated_at or static.now()),
        next_rotation_at=iso(state.next_rotation_at),
    )
    return envelope(data.model_dump(), warnings=rotated.warnings)
