"""Test support: the simulator's control surface (docs/simulator-control.md) and a client on it."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from keymint.bybit import BybitClient, CreatedApiKey

# Tests run every limit 50x faster, the client paced to match, so a 1/s endpoint allows 50/s.
SCALE = 50.0
# The simulator's default cap code; the client is told about it as keymint's settings would.
KEY_CAP_RET_CODE = 10001
PERMISSIONS = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"]}
IPS = ["10.0.0.1", "10.0.0.2"]


@dataclass(frozen=True)
class Account:
    master_uid: str
    api_key: str
    api_secret: SecretStr
    subaccounts: list[str]


class SimControl:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=10)

    def close(self) -> None:
        self._http.close()

    def _do(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/__sim__/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._do("POST", "reset")

    def seed(self, subaccounts: int = 3, **options: Any) -> Account:
        answer = self._do("POST", "seed", {"subaccounts": subaccounts, **options})
        return Account(
            master_uid=answer["master_uid"],
            api_key=answer["api_key"],
            api_secret=SecretStr(answer.get("api_secret", "")),
            subaccounts=answer["subaccounts"],
        )

    def configure(self, **fields: Any) -> dict[str, Any]:
        config: dict[str, Any] = self._do("PUT", "config", fields)
        return config

    def fault(self, endpoint: str, **spec: Any) -> str:
        answer: dict[str, str] = self._do("POST", "faults", {"endpoint": endpoint, **spec})
        return answer["id"]

    def clear_faults(self) -> None:
        self._do("DELETE", "faults")

    def advance_clock(self, seconds: float) -> None:
        self._do("POST", "clock", {"advance_seconds": seconds})

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._do("GET", "state")
        return state

    def keys_of(self, uid: str) -> list[dict[str, Any]]:
        return [key for key in self.state()["keys"] if str(key["uid"]) == uid]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self._do("GET", "requests")["requests"]
        return [entry for entry in log if path is None or entry["path"] == path]


def make_client(sim: SimControl, account: Account, **options: Any) -> BybitClient:
    settings: dict[str, Any] = {
        "rate_limit_scale": SCALE,
        "key_cap_ret_codes": (KEY_CAP_RET_CODE,),
        "timeout_s": 2.0,
        **options,
    }
    return BybitClient(sim.url, account.api_key, account.api_secret, **settings)


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
