"""`/v1/config`: the engine's non-secret settings. The master credential itself is written to
Vault by the operator (`bao kv put`); here only its public id shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from keymint.api.deps import BackendDep, require
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.leases import Caller

router = APIRouter(tags=["config"])


async def _config_data(backend: BackendDep) -> dict[str, Any]:
    config = await backend.engine_config()
    return {
        **config.public(),
        "subaccount_key_limit": backend.settings.subaccount_key_limit,
        "master": await backend.master_summary(),
    }


@router.get(
    "/v1/config",
    operation_id="config_read",
    summary="Read the engine configuration",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def read_config(
    backend: BackendDep, _: Annotated[Caller, Depends(require("read", "config"))]
) -> JSONResponse:
    return envelope(await _config_data(backend))


@router.put(
    "/v1/config",
    operation_id="config_write",
    summary="Change the Bybit environment",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def write_config(
    backend: BackendDep,
    _: Annotated[Caller, Depends(require("update", "config"))],
    body: Annotated[
        dict[str, Any],
        Body(
            description="`bybit_base_url`: mainnet, bytick, testnet, demo, a regional host "
            "name, or an http(s) URL"
        ),
    ],
) -> JSONResponse:
    await backend.update_engine_config(body)
    return envelope(await _config_data(backend))
