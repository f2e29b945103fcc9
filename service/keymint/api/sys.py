"""Liveness and readiness. Neither ever calls Bybit: a Bybit outage must not restart pods."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from keymint.api.deps import BackendDep
from keymint.api.envelope import ERRORS
from keymint.errors import Unavailable

router = APIRouter(tags=["sys"])


@router.get("/healthz", operation_id="sys_healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process serves HTTP. Touches neither Vault nor Bybit."""
    return {"status": "ok"}


@router.get(
    "/v1/sys/health",
    operation_id="sys_health",
    summary="Readiness",
    responses={503: ERRORS[503]},
)
async def health(backend: BackendDep) -> JSONResponse:
    """Ready when Vault answers and the master credential is readable."""
    master = await backend.master_summary()
    if not master["configured"]:
        raise Unavailable("the Bybit master credential is not configured in Vault")
    return JSONResponse({"vault": "ok", "master_credential": "ok"})
