"""`/v1/config`: the engine's non-secret settings. The master credential itself is written to
Vault by the operator (`bao kv put`); here only its public id shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from keymint.api.deps import ConfigDep, ServicesDep, require
from keymint.api.envelope import ERRORS, VaultResponse, envelope
from keymint.engine.caller import Caller
from keymint.engine.config import EngineConfigStore

router = APIRouter(tags=["config"])


class ConfigRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bybit_base_url: StrictStr = Field(
        max_length=2048,
        description="mainnet, bytick, testnet, demo, a regional host name, or an http(s) URL",
    )


async def _config_data(config: EngineConfigStore, key_limit: int) -> dict[str, Any]:
    master = await config.master()
    return {
        **(await config.current()).public(),
        "subaccount_key_limit": key_limit,
        "master": {
            "configured": master.configured,
            "api_key": master.api_key,
            "master_uid": master.master_uid,
        },
    }


@router.get(
    "/v1/config",
    operation_id="config_read",
    summary="Read the engine configuration",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def read_config(
    config: ConfigDep,
    found: ServicesDep,
    _: Annotated[Caller, Depends(require("read", "config"))],
) -> JSONResponse:
    return envelope(await _config_data(config, found.settings.subaccount_key_limit))


@router.put(
    "/v1/config",
    operation_id="config_write",
    summary="Change the Bybit environment",
    response_model=VaultResponse[dict[str, Any]],
    responses=ERRORS,
)
async def write_config(
    config: ConfigDep,
    found: ServicesDep,
    _: Annotated[Caller, Depends(require("update", "config"))],
    body: Annotated[ConfigRequest, Body()],
) -> JSONResponse:
    await config.update(body.bybit_base_url)
    return envelope(await _config_data(config, found.settings.subaccount_key_limit))
