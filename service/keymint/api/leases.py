"""Lease lookup, listing, renewal and revocation; the secret is never part of any answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from keymint.api.deps import (
    Duration,
    LeaseId,
    LeasesDep,
    RoleName,
    duration_field,
    lease_policy_path,
    require,
)
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.caller import Caller
from keymint.engine.durations import iso
from keymint.engine.dynamic.lease import Lease
from keymint.engine.dynamic.leases import LeaseService, Revocation
from keymint.engine.templates import ROLE_NAME

router = APIRouter(tags=["leases"])


class LeasePath(Convertor[str]):
    """A lease id in a path: slashes allowed, but never the tail or head of another leases
    route, so `GET .../renew` or `DELETE .../revoke-prefix/x` is a 405 naming the methods
    those routes take, not a lookup of a lease id that cannot exist."""

    regex = r"(?!revoke-prefix/).+(?<!/renew)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("lease", LeasePath())

REVOCATION: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    202: {
        "model": VaultResponse[dict[str, Any]],
        "description": "Pending: Bybit has not confirmed the deletion yet; the lease is marked "
        "revoking and keymint retries",
    },
    502: ERRORS[400] | {"description": "Bybit refused the deletion"},
}


class LeaseData(BaseModel):
    id: str = Field(description="The lease id")
    role: str
    subaccount_uid: int
    api_key: str = Field(description="The Bybit API key (public id); never the secret")
    issue_time: str
    expire_time: str
    max_expire_time: str
    last_renewal: str | None
    ttl: int = Field(description="Seconds left")
    renewable: bool
    state: str = Field(description="active, or revoking while Bybit has not confirmed deletion")
    caller: dict[str, Any]
    revoke_attempts: int
    last_error: str | None


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    increment: Duration | None = Field(
        default=None, description="Requested TTL from now; capped at the lease's max TTL"
    )


def lease_data(lease: Lease, leases: LeaseService) -> dict[str, Any]:
    now = leases.now()
    caller = lease.caller.model_dump()
    caller["accessor"] = leases.hash_accessor(lease.caller.accessor)
    return LeaseData(
        id=lease.lease_id,
        role=lease.role,
        subaccount_uid=lease.subaccount_uid,
        api_key=lease.api_key,
        issue_time=iso(lease.issued_at),
        expire_time=iso(lease.expires_at),
        max_expire_time=iso(lease.max_expires_at),
        last_renewal=iso(lease.last_renewed_at) if lease.last_renewed_at else None,
        ttl=lease.ttl(now),
        renewable=lease.state == "active" and lease.expires_at < lease.max_expires_at,
        state=lease.state.value,
        caller=caller,
        revoke_attempts=lease.revoke_attempts,
        last_error=lease.last_error,
    ).model_dump()


# What each lease operation answers, shared by these routes and Vault's `sys/leases/*` ones
# (api/sys_leases.py), which differ only in where the lease id comes from.


async def lookup_lease(lease_id: str, leases: LeaseService) -> JSONResponse:
    return envelope(lease_data(await leases.lookup(lease_id), leases))


async def renew_lease(
    lease_id: str, increment: int | str | None, leases: LeaseService
) -> JSONResponse:
    seconds = duration_field(increment, "increment")
    renewed = await leases.renew(lease_id, increment=seconds)
    now = leases.now()
    return envelope(
        lease_data(renewed.lease, leases),
        lease_id=renewed.lease.lease_id,
        lease_duration=renewed.lease.ttl(now),
        renewable=True,
        warnings=renewed.warnings,
    )


async def revoke_lease(lease_id: str, leases: LeaseService) -> JSONResponse:
    return _revocation_answer(await leases.revoke(lease_id, reason="revoked"), leases)


async def revoke_role(role: str, leases: LeaseService) -> JSONResponse:
    results = await leases.revoke_prefix(role, reason="revoked")
    pending = [r.lease_id for r in results if not r.revoked]
    return envelope(
        {"revoked": [r.lease_id for r in results if r.revoked], "revoking": pending},
        warnings=[f"{len(pending)} key(s) not yet deleted at Bybit; retried"] if pending else None,
        status_code=202 if pending else 200,
    )


def _revocation_answer(revocation: Revocation, leases: LeaseService) -> JSONResponse:
    if revocation.revoked:
        return envelope({"revoked": [revocation.lease_id]})
    lease = lease_data(revocation.lease, leases) if revocation.lease else None
    return envelope(
        {"revoking": [revocation.lease_id], "lease": lease},
        warnings=[
            f"the key could not be deleted at Bybit yet ({revocation.error}); the lease is "
            "marked revoking and deletion is retried"
        ],
        status_code=202,
    )


@router.get(
    "/v1/leases",
    operation_id="leases_list",
    summary="List leases",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def list_leases(
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("list", "leases"))],
    role: Annotated[
        str | None, Query(pattern=ROLE_NAME.pattern, description="Only this role's leases")
    ] = None,
    after: Annotated[
        str | None, Query(max_length=256, description="Last lease id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    page = await leases.page(role=role, after=after, limit=limit)
    return envelope(
        {
            "keys": [lease.lease_id for lease in page.leases],
            "key_info": {lease.lease_id: lease_data(lease, leases) for lease in page.leases},
            "next_cursor": page.next_cursor,
        }
    )


@router.put(
    "/v1/leases/revoke-prefix/{role}",
    operation_id="leases_revoke_prefix_put",
    summary="Revoke every lease of a role (PUT, as the Vault CLI sends writes)",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
@router.post(
    "/v1/leases/revoke-prefix/{role}",
    operation_id="leases_revoke_prefix",
    summary="Revoke every lease of a role",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
async def revoke_prefix(
    role: RoleName,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("sudo", "leases/revoke-prefix/{role}"))],
) -> JSONResponse:
    return await revoke_role(role, leases)


@router.get(
    "/v1/leases/{lease_id:lease}",
    operation_id="leases_lookup",
    summary="Look up a lease",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
async def lookup(
    lease_id: LeaseId,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("read", lease_policy_path))],
) -> JSONResponse:
    return await lookup_lease(lease_id, leases)


@router.put(
    "/v1/leases/{lease_id:path}/renew",
    operation_id="leases_renew_put",
    summary="Renew a lease (PUT, as the Vault CLI sends writes)",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
@router.post(
    "/v1/leases/{lease_id:path}/renew",
    operation_id="leases_renew",
    summary="Renew a lease",
    response_model=VaultResponse[LeaseData],
    responses=ERRORS,
)
async def renew(
    lease_id: LeaseId,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("update", lease_policy_path))],
    body: Annotated[RenewRequest | None, Body()] = None,
) -> JSONResponse:
    return await renew_lease(lease_id, (body or RenewRequest()).increment, leases)


@router.delete(
    "/v1/leases/{lease_id:lease}",
    operation_id="leases_revoke",
    summary="Revoke a lease: delete its key at Bybit",
    response_model=VaultResponse[dict[str, Any]],
    responses=REVOCATION,
)
async def revoke(
    lease_id: LeaseId,
    leases: LeasesDep,
    _: Annotated[Caller, Depends(require("delete", lease_policy_path))],
) -> JSONResponse:
    return await revoke_lease(lease_id, leases)
