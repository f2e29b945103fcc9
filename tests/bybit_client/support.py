"""Test support: a keymint Bybit client on the simulator, and what tests ask it for."""

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import BybitClient, CreatedApiKey

# Tests run every limit 50x faster, the client paced to match, so a 1/s endpoint allows 50/s.
SCALE = 50.0
# The simulator's default cap code; the client is told about it as keymint's settings would.
KEY_CAP_RET_CODE = 10001
PERMISSIONS = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"]}
IPS = ["10.0.0.1", "10.0.0.2"]


def keys_of(sim: SimControl, uid: str) -> list[dict[str, Any]]:
    return [key for key in sim.state()["keys"] if str(key["uid"]) == uid]


def make_client(sim: SimControl, account: SeededMaster, **options: Any) -> BybitClient:
    settings: dict[str, Any] = {
        "rate_limit_scale": SCALE,
        "key_cap_ret_codes": (KEY_CAP_RET_CODE,),
        "timeout_s": 2.0,
        **options,
    }
    return BybitClient(sim.url, account.api_key, SecretStr(account.api_secret), **settings)


async def mint_key(
    client: BybitClient,
    sub: str,
    note: str,
    *,
    read_only: bool = False,
    ips: Sequence[str] = IPS,
) -> CreatedApiKey:
    return await client.create_sub_api_key(
        sub, note=note, permissions=PERMISSIONS, read_only=read_only, ips=ips
    )
