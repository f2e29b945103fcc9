"""The /__sim__/ control surface, the state file across restarts, and the CLI's --config."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest
from pybit.exceptions import FailedRequestError

from bybit_sim.control_client import SimControl, SimControlError
from keymint.devstack import start_simulator
from sim.simtools import World, pybit, raw_control, seed

SIM_PACKAGE = Path(__file__).resolve().parents[2] / "service" / "bybit_sim"


def test_seed_answer_and_state_never_shows_secrets(sim: SimControl, world: World) -> None:
    state = sim.state()
    assert {a["uid"] for a in state["accounts"]} == {str(world.master_uid), *map(str, world.subs)}
    master = next(a for a in state["accounts"] if a["isMaster"])
    assert (master["uid"], master["parentUid"]) == (str(world.master_uid), "0")
    subs = [a for a in state["accounts"] if not a["isMaster"]]
    assert {a["parentUid"] for a in subs} == {str(world.master_uid)}
    [key] = state["keys"]
    assert set(key) == {
        "id",
        "apiKey",
        "uid",
        "note",
        "readOnly",
        "ips",
        "permissions",
        "createdAt",
        "expiredAt",
        "flag",
    }
    assert key["permissions"]["Wallet"] == ["AccountTransfer", "SubMemberTransfer", "Withdraw"]
    assert world.api_secret not in json.dumps(state)


def test_seed_options(sim: SimControl) -> None:
    world = seed(
        sim,
        subaccounts=1,
        master_ips=["127.0.0.1"],
        master_permissions={"Wallet": ["AccountTransfer"]},
        master_read_only=1,
        username_prefix="acme",
    )
    info = pybit(world.url, world.api_key, world.api_secret).get_api_key_information()["result"]
    assert (info["ips"], info["readOnly"]) == (["127.0.0.1"], 1)
    assert info["permissions"]["Wallet"] == ["AccountTransfer"]
    assert info["permissions"]["Spot"] == []
    names = [a["username"] for a in sim.state()["accounts"]]
    assert all(name.startswith("acme") and 6 <= len(name) <= 16 for name in names)


@pytest.mark.parametrize(
    "body",
    [
        {"master_permissions": {"Wallet": ["SubMemberTransferList"]}},
        {"master_ips": "not-an-ip"},
        {"rsa_public_key": "garbage"},
        {"username_prefix": "9lives"},
        {"subaccounts": -1},
    ],
)
def test_bad_seed_requests_are_400(sim: SimControl, body: dict[str, object]) -> None:
    response = raw_control(sim.url, "POST", "seed", body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_clock_get_set_advance(sim: SimControl) -> None:
    assert sim.clock()["offset_ms"] == 0
    moved = sim.advance(1.5)
    assert moved["offset_ms"] == 1500
    target = moved["now_ms"] + 86_400_000
    set_to = sim.set_clock_ms(target)
    assert abs(set_to["now_ms"] - target) < 100
    both = {"advance_seconds": 1, "set_ms": 1}
    assert raw_control(sim.url, "POST", "clock", both).status_code == 400


def test_config_get_put(sim: SimControl) -> None:
    config = sim.config()
    assert config["max_keys_per_subaccount"] == 20
    assert config["rate_limit_scale"] == 1.0
    changed = sim.configure(max_keys_per_subaccount=5, sign_error_format="2026")
    assert (changed["max_keys_per_subaccount"], changed["sign_error_format"]) == (5, "2026")
    for bad in ({"no_such_field": 1}, {"rate_limit_scale": -1}):
        with pytest.raises(SimControlError) as refused:
            sim.configure(**bad)
        assert refused.value.status_code == 400
    assert sim.config()["max_keys_per_subaccount"] == 5


def test_requests_log_records_what_a_client_did(sim: SimControl, world: World) -> None:
    session = pybit(world.url, world.api_key, world.api_secret)
    session.get_api_key_information()
    with pytest.raises(FailedRequestError):
        pybit(world.url, "C" * 18, "x").get_api_key_information()
    log = sim.requests()
    assert [(e["method"], e["path"], e["retCode"], e["http_status"]) for e in log] == [
        ("GET", "/v5/user/query-api", 0, 200),
        ("GET", "/v5/user/query-api", 10003, 401),
    ]
    assert (log[0]["uid"], log[1]["uid"]) == (str(world.master_uid), None)
    assert isinstance(log[0]["ts_ms"], int)


def test_reset_forgets_everything(sim: SimControl, world: World) -> None:
    sim.configure(max_keys_per_subaccount=3)
    sim.fault("/v5/user/query-api", ret_code=10016)
    pybit(world.url, world.api_key, world.api_secret).get_sub_uid_list()
    sim.advance(100)
    sim.reset()
    assert sim.state()["accounts"] == []
    assert sim.faults() == []
    assert sim.clock()["offset_ms"] == 0
    assert sim.config()["max_keys_per_subaccount"] == 20
    assert sim.requests() == []


def test_unknown_control_paths(sim: SimControl) -> None:
    assert raw_control(sim.url, "GET", "nothing").status_code == 404
    assert raw_control(sim.url, "DELETE", "state").status_code == 405
    assert httpx.post(f"{sim.url}/__sim__/seed", content=b"[1]").status_code == 400


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    first = start_simulator(tmp_path / "first", state_file=state_file)
    try:
        with SimControl(first.url) as control:
            world = seed(control, subaccounts=1)
        created = pybit(first.url, world.api_key, world.api_secret).create_sub_api_key(
            subuid=world.subs[0], readOnly=1, ips="127.0.0.1", permissions={"Spot": ["SpotTrade"]}
        )["result"]
    finally:
        first.stop()
    assert created["secret"] in state_file.read_text()

    second = start_simulator(tmp_path / "second", state_file=state_file)
    try:
        info = pybit(second.url, created["apiKey"], created["secret"]).get_api_key_information()
        assert (info["result"]["ips"], info["result"]["readOnly"]) == (["127.0.0.1"], 1)
        with SimControl(second.url) as control:
            state = control.state()
        assert {a["uid"] for a in state["accounts"]} == {str(world.master_uid), str(world.subs[0])}
        assert len(state["keys"]) == 2
    finally:
        second.stop()


def test_cli_config_overrides_become_the_reset_values(tmp_path: Path) -> None:
    process = start_simulator(
        tmp_path, config={"max_keys_per_subaccount": "3", "max_recv_window_ms": "null"}
    )
    try:
        with SimControl(process.url) as control:
            control.configure(max_keys_per_subaccount=7)
            control.reset()
            config = control.config()
        assert (config["max_keys_per_subaccount"], config["max_recv_window_ms"]) == (3, None)
    finally:
        process.stop()


def test_bybit_sim_imports_nothing_from_keymint() -> None:
    offenders = []
    files = sorted(SIM_PACKAGE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "keymint"]
    assert offenders == []
