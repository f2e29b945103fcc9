"""Role CRUD. Roles from the roles file are listed and readable, never writable here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response

from keymint.api.bodies import definition_body
from keymint.api.deps import (
    RoleName,
    RolesDep,
    require,
    require_write,
)
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.caller import Caller
from keymint.engine.definition_store import RoleSource
from keymint.engine.dynamic.role import Role

router = APIRouter(tags=["roles"])


def role_data(role: Role, source: str) -> dict[str, Any]:
    return {**role.model_dump(exclude={"name"}), "name": role.name, "source": source}


def listing(names: dict[str, RoleSource]) -> JSONResponse:
    """Vault's LIST answer, with where each definition comes from."""
    return envelope(
        {"keys": list(names), "key_info": {n: {"source": s.value} for n, s in names.items()}}
    )


@router.get(
    "/v1/roles",
    operation_id="roles_list",
    summary="List roles",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def list_roles(
    roles: RolesDep, _: Annotated[Caller, Depends(require("list", "roles"))]
) -> JSONResponse:
    return listing(await roles.names())


@router.get(
    "/v1/roles/{name}",
    operation_id="roles_read",
    summary="Read a role",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def read_role(
    name: RoleName, roles: RolesDep, _: Annotated[Caller, Depends(require("read", "roles/{name}"))]
) -> JSONResponse:
    stored = await roles.get(name)
    return envelope(role_data(stored.role, stored.source.value))


@router.put(
    "/v1/roles/{name}",
    operation_id="roles_write",
    summary="Create or update a role",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
    openapi_extra=definition_body(
        Role,
        {
            "subaccounts": [100002],
            "permissions": {"Spot": ["SpotTrade"]},
            "ips": ["203.0.113.7"],
            "ttl": "1h",
            "max_ttl": "24h",
        },
    ),
)
async def write_role(
    name: RoleName,
    roles: RolesDep,
    body: Annotated[dict[str, Any], Body()],
    _: Annotated[
        Caller,
        Depends(require_write("roles/{name}", lambda found, name: found.roles.exists(name))),
    ],
) -> JSONResponse:
    """Like Vault, creating needs `create` and changing needs `update` on `roles/<name>`."""
    return envelope(role_data(await roles.put(name, body), "api"))


@router.delete(
    "/v1/roles/{name}",
    operation_id="roles_delete",
    summary="Delete a role",
    status_code=204,
    responses={**ERRORS, 409: ERRORS[400] | {"description": "The role has live leases"}},
)
async def delete_role(
    name: RoleName,
    roles: RolesDep,
    _: Annotated[Caller, Depends(require("delete", "roles/{name}"))],
    revoke: Annotated[bool, Query(description="Revoke the role's live leases first")] = False,
) -> Response:
    await roles.delete(name, revoke=revoke)
    return Response(status_code=204)
