"""`GET /v1/subaccounts`: how full each managed sub-account is, against Bybit's key limit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from keymint.api.deps import BackendDep, require
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.leases import Caller

router = APIRouter(tags=["subaccounts"])


@router.get(
    "/v1/subaccounts",
    operation_id="subaccounts_list",
    summary="Key usage per sub-account",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def list_subaccounts(
    backend: BackendDep, _: Annotated[Caller, Depends(require("list", "subaccounts"))]
) -> JSONResponse:
    """Per sub-account: keys used against the limit, keymint's keys by kind, foreign keys (as
    last counted by reconciliation or a refusal at the cap), and the roles whose pool it is in."""
    usage = await backend.subaccount_usage()
    return envelope(
        {
            "keys": [str(u["subaccount_uid"]) for u in usage],
            "key_info": {str(u["subaccount_uid"]): u for u in usage},
        }
    )
