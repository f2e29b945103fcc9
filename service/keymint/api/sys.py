"""Liveness and readiness. Neither ever calls Bybit: a Bybit outage must not restart pods."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from keymint.api.deps import ServicesDep
from keymint.api.envelope import ERRORS
from keymint.observability import metrics

router = APIRouter(tags=["sys"])


@router.get(
    "/metrics",
    operation_id="sys_metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
)
async def prometheus_metrics() -> Response:
    """The Prometheus text format. Never a key id, lease id or secret as a label."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


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
async def health(found: ServicesDep) -> JSONResponse:
    """Ready when Vault answers, the master credential is in it, and Bybit did not refuse the
    credential at its last check (never asked here)."""
    await found.master_health.ready()
    return JSONResponse({"vault": "ok", "master_credential": "ok"})
