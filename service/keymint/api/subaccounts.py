"""`GET /v1/subaccounts`: how full each managed sub-account is, against Bybit's key limit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from keymint.api.deps import CapacityDep, require
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.caller import Caller

router = APIRouter(tags=["subaccounts"])


@router.get(
    "/v1/subaccounts",
    operation_id="subaccounts_list",
    summary="Key usage per sub-account",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def list_subaccounts(
    capacity: CapacityDep, _: Annotated[Caller, Depends(require("list", "subaccounts"))]
) -> JSONResponse:
    """Per sub-account: keys used against the limit, keymint's keys by kind, foreign keys (as
    last counted by reconciliation or a refusal at the cap), and the roles whose pool it is in."""
    usage = await capacity.subaccounts()
    return envelope(
        {
            "keys": [str(u.uid) for u in usage],
            "key_info": {
                str(u.uid): {
                    "subaccount_uid": u.uid,
                    "limit": u.limit,
                    "used": u.used,
                    "keymint_keys": u.keymint_keys,
                    "keymint_keys_by_kind": u.by_owner,
                    "foreign_keys": u.foreign_keys,
                    "roles": u.roles,
                }
                for u in usage
            },
        }
    )
