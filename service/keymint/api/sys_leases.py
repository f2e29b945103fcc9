"""Vault's own lease API, `sys/leases/*`, so `bao lease lookup|renew|revoke` and hvac's
`sys.read_lease`, `sys.renew_lease` and `sys.revoke_lease` work against keymint unchanged.

The same operations as `/v1/leases/...` (api/leases.py), on the same policy paths: only where
the lease id comes from differs (Vault's clients send it in the body, or after `revoke/`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from keymint.api.deps import (
    LEASE_ID_PATTERN,
    Duration,
    LeaseId,
    LeasesDep,
    lease_policy_path,
    require,
)
from keymint.api.envelope import ERRORS, VaultResponse
from keymint.api.leases import (
    REVOCATION,
    LeaseData,
    lookup_lease,
    renew_lease,
    revoke_lease,
    revoke_role,
)
from keymint.engine.caller import Caller
from keymint.engine.dynamic.lease import LEASE_ID_FORM, LEASE_PREFIX_FORM, parse_lease_prefix

router = APIRouter(tags=["sys-leases"])

BodyLeaseId = Annotated[
    str, Field(pattern=LEASE_ID_PATTERN, description=f"A lease id, {LEASE_ID_FORM}")
]
Sync = Annotated[
    StrictBool | None,
    Field(
        description="Accepted as Vault's clients send it; keymint always deletes the key at "
        "once, and answers 202 while Bybit has not confirmed (it retries)"
    ),
]
LeasePrefix = Annotated[
    str,
    PathParam(
        pattern=r"^keymint/creds/[a-z0-9][a-z0-9_-]{0,62}/?$",
        description=f"A lease prefix, {LEASE_PREFIX_FORM}: every lease of that role",
    ),
]


class LookupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: BodyLeaseId


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: BodyLeaseId
    increment: Duration | None = Field(
        default=None, description="Requested TTL from now (0: the role's); capped at max TTL"
    )


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: BodyLeaseId
    sync: Sync = None


class RevokeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sync: Sync = None
    prefix: str | None = Field(
        default=None, max_length=256, description="Sent by hvac; the path's prefix is the one used"
    )


def _prefix_policy_path(params: Mapping[str, Any]) -> str:
    role = parse_lease_prefix(str(params["prefix"]))
    assert role is not None, "checked by path_problem"
    return f"leases/revoke-prefix/{role}"


@router.put(
    "/v1/sys/leases/lookup",
    operation_id="sys_leases_lookup",
    summary="Look up a lease (Vault's sys/leases/lookup)",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
@router.post(
    "/v1/sys/leases/lookup",
    operation_id="sys_leases_lookup_post",
    summary="Look up a lease (Vault's sys/leases/lookup)",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
async def lookup(
    body: LookupBody,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("read", lease_policy_path, body_field="lease_id"))],
) -> JSONResponse:
    """Needs `read` on `keymint/leases/<role>/<uid>-<key>`, as `GET /v1/leases/{id}` does."""
    return await lookup_lease(body.lease_id, leases)


@router.put(
    "/v1/sys/leases/renew",
    operation_id="sys_leases_renew",
    summary="Renew a lease (Vault's sys/leases/renew)",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
@router.post(
    "/v1/sys/leases/renew",
    operation_id="sys_leases_renew_post",
    summary="Renew a lease (Vault's sys/leases/renew)",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
async def renew(
    body: RenewBody,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("update", lease_policy_path, body_field="lease_id"))],
) -> JSONResponse:
    """Needs `update` on `keymint/leases/<role>/<uid>-<key>`."""
    return await renew_lease(body.lease_id, body.increment, leases)


@router.put(
    "/v1/sys/leases/revoke",
    operation_id="sys_leases_revoke",
    summary="Revoke a lease (Vault's sys/leases/revoke, as hvac sends it)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
@router.post(
    "/v1/sys/leases/revoke",
    operation_id="sys_leases_revoke_post",
    summary="Revoke a lease (Vault's sys/leases/revoke, as hvac sends it)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
async def revoke(
    body: RevokeBody,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("delete", lease_policy_path, body_field="lease_id"))],
) -> JSONResponse:
    """Needs `delete` on `keymint/leases/<role>/<uid>-<key>`."""
    return await revoke_lease(body.lease_id, leases)


@router.put(
    "/v1/sys/leases/revoke/{lease_id:path}",
    operation_id="sys_leases_revoke_id",
    summary="Revoke a lease (Vault's sys/leases/revoke/<id>, as `bao lease revoke` sends it)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
@router.post(
    "/v1/sys/leases/revoke/{lease_id:path}",
    operation_id="sys_leases_revoke_id_post",
    summary="Revoke a lease (Vault's sys/leases/revoke/<id>, as `bao lease revoke` sends it)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
async def revoke_by_path(
    lease_id: LeaseId,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("delete", lease_policy_path))],
    body: Annotated[RevokeOptions | None, Body()] = None,
) -> JSONResponse:
    """Needs `delete` on `keymint/leases/<role>/<uid>-<key>`."""
    return await revoke_lease(lease_id, leases)


@router.put(
    "/v1/sys/leases/revoke-prefix/{prefix:path}",
    operation_id="sys_leases_revoke_prefix",
    summary="Revoke every lease of a role (Vault's sys/leases/revoke-prefix/<prefix>)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
@router.post(
    "/v1/sys/leases/revoke-prefix/{prefix:path}",
    operation_id="sys_leases_revoke_prefix_post",
    summary="Revoke every lease of a role (Vault's sys/leases/revoke-prefix/<prefix>)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
async def revoke_prefix(
    prefix: LeasePrefix,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("sudo", _prefix_policy_path))],
    body: Annotated[RevokeOptions | None, Body()] = None,
) -> JSONResponse:
    """Needs `sudo` on `keymint/leases/revoke-prefix/<role>`, as
    `/v1/leases/revoke-prefix/{role}` does. Only a role's prefix is accepted: keymint's lease
    ids are `keymint/creds/<role>/...`, and revoking all of keymint at once is not offered."""
    role = parse_lease_prefix(prefix)
    assert role is not None, "checked by path_problem"
    return await revoke_role(role, leases)
