"""POST /__sim__/seed: a new master account with its key and some sub-accounts; and
POST /__sim__/master-keys: another key for an existing master, as an operator makes one in
Bybit's web UI (the API has no endpoint for it) before rotating to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bybit_sim import permissions, rsa_keys
from bybit_sim.envelope import BybitError
from bybit_sim.ips import parse_ips
from bybit_sim.sim import Simulator
from bybit_sim.state import ApiKey, NewKey, SimState

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


class MasterKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    master_uid: str
    master_ips: list[str] | str = ["*"]
    master_permissions: dict[str, list[str]] | None = None
    master_read_only: int = Field(0, ge=0, le=1)
    rsa_public_key: str | None = None


def _master_key(
    sim: Simulator, uid: int, request: SeedRequest | MasterKeyRequest, note: str
) -> ApiKey:
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
    return sim.state.add_key(
        NewKey(
            uid=uid,
            read_only=request.master_read_only,
            ips=ips,
            permissions=perms,
            note=note,
            rsa_public_key=request.rsa_public_key or "",
        ),
        sim.clock.now_ms(),
    )


def _credentials(key: ApiKey) -> dict[str, object]:
    answer: dict[str, object] = {"api_key": key.api_key}
    if not key.rsa_public_key:
        answer["api_secret"] = key.secret
    return answer


def add_master_key(sim: Simulator, request: MasterKeyRequest) -> dict[str, object]:
    account = (
        sim.state.accounts.get(int(request.master_uid)) if request.master_uid.isdigit() else None
    )
    if account is None or not account.is_master:
        raise SeedError(f"master_uid: no master account {request.master_uid}")
    return _credentials(_master_key(sim, account.uid, request, "master"))


def seed(sim: Simulator, request: SeedRequest) -> dict[str, object]:
    state, now = sim.state, sim.clock.now_ms()
    username, number = _free_username(state, request.username_prefix, 1)
    master = state.add_account(username, NORMAL_MEMBER_TYPE, 0, "", now)
    key = _master_key(sim, master.uid, request, "seed")
    sub_uids = []
    for _ in range(request.subaccounts):
        username, number = _free_username(state, request.username_prefix, number)
        sub_uids.append(
            str(state.add_account(username, NORMAL_MEMBER_TYPE, master.uid, "", now).uid)
        )
    return {"master_uid": str(master.uid), **_credentials(key), "subaccounts": sub_uids}
