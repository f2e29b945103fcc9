"""POST /__sim__/seed: a new master account with its key and some sub-accounts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bybit_sim import permissions, rsa_keys
from bybit_sim.envelope import BybitError
from bybit_sim.ips import parse_ips
from bybit_sim.sim import Simulator
from bybit_sim.state import NewKey, SimState

NORMAL_MEMBER_TYPE = 1


class SeedError(ValueError):
    pass


class SeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subaccounts: int = Field(0, ge=0, le=10_000)
    master_ips: list[str] | str = ["*"]
    master_permissions: dict[str, list[str]] | None = None
    master_read_only: int = Field(0, ge=0, le=1)
    rsa_public_key: str | None = None
    # A leading letter and room for digits keep every generated username valid (6-16 chars).
    username_prefix: str = Field("demo", pattern=r"^[A-Za-z][A-Za-z0-9]{0,9}$")


def _free_username(state: SimState, prefix: str, start: int) -> tuple[str, int]:
    number = start
    while True:
        username = f"{prefix}{number:0{max(2, 6 - len(prefix))}d}"
        if username not in state.usernames:
            return username, number + 1
        number += 1


def seed(sim: Simulator, request: SeedRequest) -> dict[str, object]:
    state, now = sim.state, sim.clock.now_ms()
    try:
        ips = parse_ips(request.master_ips, sim.config)
        perms = (
            permissions.default_master()
            if request.master_permissions is None
            else permissions.parse(request.master_permissions, master=True)
        )
        if request.rsa_public_key is not None:
            rsa_keys.load_public_key(request.rsa_public_key)
    except BybitError as exc:
        raise SeedError(exc.msg) from None
    except ValueError as exc:
        raise SeedError(f"rsa_public_key: {exc}") from None
    username, number = _free_username(state, request.username_prefix, 1)
    master = state.add_account(username, NORMAL_MEMBER_TYPE, 0, "", now)
    key = state.add_key(
        NewKey(
            uid=master.uid,
            read_only=request.master_read_only,
            ips=ips,
            permissions=perms,
            note="seed",
            rsa_public_key=request.rsa_public_key or "",
        ),
        now,
    )
    sub_uids = []
    for _ in range(request.subaccounts):
        username, number = _free_username(state, request.username_prefix, number)
        sub_uids.append(
            str(state.add_account(username, NORMAL_MEMBER_TYPE, master.uid, "", now).uid)
        )
    answer: dict[str, object] = {"master_uid": str(master.uid), "api_key": key.api_key}
    if not key.rsa_public_key:
        answer["api_secret"] = key.secret
    answer["subaccounts"] = sub_uids
    return answer
