"""`POST /v1/reconcile`: sweep the managed sub-accounts for orphans, drift and lost keys now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from keymint.api.deps import ReconcilerDep, require
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.caller import Caller
from keymint.engine.reconcile.report import ReconcileReport

router = APIRouter(tags=["reconcile"])


@router.put(
    "/v1/reconcile",
    operation_id="reconcile_run_put",
    summary="Reconcile keymint's keys at Bybit with its records in Vault (PUT)",
    response_model=VaultResponse[ReconcileReport],
    responses=ERRORS,
)
@router.post(
    "/v1/reconcile",
    operation_id="reconcile_run",
    summary="Reconcile keymint's keys at Bybit with its records in Vault",
    response_model=VaultResponse[ReconcileReport],
    responses=ERRORS,
)
async def reconcile(
    reconciler: ReconcilerDep,
    _: Annotated[Caller, Depends(require("update", "reconcile"))],
    dry_run: Annotated[
        bool, Query(description="Report what would be done; change nothing at Bybit or in Vault")
    ] = False,
    subaccount: Annotated[
        list[int] | None,
        Query(description="Only these sub-accounts (repeatable); each must be managed"),
    ] = None,
) -> JSONResponse:
    report = await reconciler.run(dry_run=dry_run, subaccounts=subaccount)
    failed = [s for s in report.subaccounts if s.error is not None]
    return envelope(
        report.model_dump(mode="json"),
        warnings=[f"sub-account {s.subaccount}: {s.error}" for s in failed],
    )
