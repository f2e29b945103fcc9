"""`POST /v1/creds/{role}`: a bot asks for a key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from keymint.api.deps import Duration, MintingDep, RoleName, ServicesDep, duration_field, require
from keymint.api.envelope import ERRORS, VaultResponse, WrapInfoOut, envelope
from keymint.engine.caller import Caller
from keymint.engine.durations import DURATION_PATTERN, iso
from keymint.engine.dynamic.idempotency import MAX_KEY_LENGTH, Minted
from keymint.engine.dynamic.minting import Minting
from keymint.wiring import Services

router = APIRouter(tags=["creds"])


class CredsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl: Duration | None = Field(
        default=None,
        description="Lease TTL, seconds or a Vault duration (`1h`); at most the role's max_ttl",
    )
    wrap_ttl: Duration | None = Field(
        default=None,
        description="Answer with a single-use Vault wrapping token of this TTL instead of data",
    )
    instance_id: str = Field(
        default="",
        max_length=128,
        description="The bot instance (e.g. its pod name): with the role's "
        "max_leases_per_caller, a restarting instance replaces its own old lease",
    )


class CredsData(BaseModel):
    api_key: str = Field(description="The Bybit API key (public id)")
    api_secret: str = Field(
        description="The Bybit API secret; returned once, never readable again",
        json_schema_extra={"format": "password", "x-sensitive": True},
    )
    subaccount_uid: int
    permissions: dict[str, list[str]]
    ips: list[str] = Field(description="The egress IPs the key is pinned to")
    read_only: bool
    expires_at: str = Field(description="When the lease expires unless renewed (RFC 3339)")


def _answer(minted: Minted) -> dict[str, Any]:
    lease = minted.lease
    data = CredsData(
        api_key=lease.api_key,
        api_secret=minted.secret.get_secret_value(),
        subaccount_uid=lease.subaccount_uid,
        permissions=lease.permissions,
        ips=lease.ips,
        read_only=lease.read_only,
        expires_at=iso(lease.expires_at),
    )
    return {
        "lease_id": lease.lease_id,
        "lease_duration": int(lease.expires_at - lease.issued_at),
        "renewable": True,
        "data": data.model_dump(),
    }


MINT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: ERRORS[400] | {"description": "Idempotent request in progress"},
    422: ERRORS[400] | {"description": "Idempotency-Key reused with another request"},
    429: ERRORS[400] | {"description": "Every sub-account of the pool is full"},
    502: ERRORS[400] | {"description": "Bybit refused or rate-limited"},
}


IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Retries with the same key within 10 minutes get the same lease",
    ),
]
XVaultWrapTtl = Annotated[
    str | None,
    Header(
        max_length=64,
        pattern=DURATION_PATTERN,
        description="Wrap the answer, like Vault's header (a duration)",
    ),
]
XKeymintInstance = Annotated[
    str | None,
    Header(max_length=128, description="The bot instance id (or `instance_id` in the body)"),
]


@router.get(
    "/v1/creds/{role}",
    operation_id="creds_read",
    summary="Mint a key for a role on read, as Vault's dynamic engines do (`bao read creds/R`)",
    response_model=VaultResponse[CredsData],
    responses=MINT_ERRORS,
)
async def mint_on_read(
    role: RoleName,
    minting: MintingDep,
    found: ServicesDep,
    caller: Annotated[Caller, Depends(require("read", "creds/{role}"))],
    ttl: Annotated[
        str | None,
        Query(max_length=64, pattern=DURATION_PATTERN, description="Lease TTL, as in the body"),
    ] = None,
    instance_id: Annotated[str, Query(max_length=128, description="As in the body")] = "",
    idempotency_key: IdempotencyKey = None,
    x_vault_wrap_ttl: XVaultWrapTtl = None,
    x_keymint_instance: XKeymintInstance = None,
) -> JSONResponse:
    """The same as the POST, with its options as query parameters (`bao read creds/R
    ttl=30m` sends `?ttl=30m`). Like Vault, a read needs `read` on the policy path
    `keymint/creds/<role>`, where a write (POST, PUT) needs `update`."""
    return await _mint(
        role,
        CredsRequest(ttl=ttl, instance_id=x_keymint_instance or instance_id),
        minting,
        found,
        caller,
        idempotency_key,
        x_vault_wrap_ttl,
    )


@router.put(
    "/v1/creds/{role}",
    operation_id="creds_mint_put",
    summary="Mint a key for a role (PUT, as the Vault CLI sends writes)",
    response_model=VaultResponse[CredsData],
    responses=MINT_ERRORS,
)
@router.post(
    "/v1/creds/{role}",
    operation_id="creds_mint",
    summary="Mint a key for a role",
    response_model=VaultResponse[CredsData],
    responses=MINT_ERRORS,
)
async def mint(
    role: RoleName,
    minting: MintingDep,
    found: ServicesDep,
    caller: Annotated[Caller, Depends(require("update", "creds/{role}"))],
    body: Annotated[CredsRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
    x_vault_wrap_ttl: XVaultWrapTtl = None,
    x_keymint_instance: XKeymintInstance = None,
) -> JSONResponse:
    """A fresh IP-pinned key on one of the role's sub-accounts, with a lease.

    The secret is in this answer only (`Cache-Control: no-store`).
    """
    request = body or CredsRequest()
    if x_keymint_instance:
        request = request.model_copy(update={"instance_id": x_keymint_instance})
    return await _mint(role, request, minting, found, caller, idempotency_key, x_vault_wrap_ttl)


async def _mint(
    role: str,
    request: CredsRequest,
    minting: Minting,
    found: Services,
    caller: Caller,
    idempotency_key: str | None,
    x_vault_wrap_ttl: str | None,
) -> JSONResponse:
    ttl = duration_field(request.ttl, "ttl")
    # Checked before the key exists: Vault refusing the wrap later would strand it.
    wrap_ttl = duration_field(
        x_vault_wrap_ttl or request.wrap_ttl, "wrap_ttl", at_most=minting.max_lease_ttl_s
    )
    minted = await minting.mint(
        role,
        caller=caller,
        ttl=ttl,
        instance_id=request.instance_id,
        idempotency_key=idempotency_key,
    )
    answer = _answer(minted)
    if wrap_ttl:
        # The lease travels inside the wrapped payload so the bot can renew after unwrapping.
        payload = {**answer["data"], "lease_id": answer["lease_id"]}
        info = await found.wrap(payload, wrap_ttl)
        return envelope(
            wrap_info=WrapInfoOut(
                token=info.token,
                accessor=info.accessor,
                ttl=info.ttl_s,
                creation_time=info.creation_time,
                creation_path=info.creation_path,
            ),
            no_store=True,
        )
    return envelope(**answer, no_store=True)
