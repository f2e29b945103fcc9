"""Sub-account API keys: create, list, update, delete, expiry, IP binding, caps, permissions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from bybit_sim.control_client import SimControl
from sim.simtools import RawClient, World, pybit, pybit_from, seed

ALL_GROUPS = [
    "ContractTrade",
    "Spot",
    "Wallet",
    "Options",
    "Derivatives",
    "CopyTrading",
    "BlockTrade",
    "Exchange",
    "NFT",
    "Affiliate",
    "Earn",
    "FiatP2P",
    "FiatConvertBroker",
    "FiatGlobalPay",
    "FiatBitPay",
    "BitCard",
    "ByXPost",
]
SPOT = {"Spot": ["SpotTrade"]}
DAY = 86_400
# pybit signs with the local clock; a recv_window this wide lets it talk to a server 91 days on.
WIDE_RECV_WINDOW = 92 * DAY * 1000


@pytest.fixture(autouse=True)
def fast_limits(sim: SimControl) -> None:
    # Minting is limited to 1/s; these tests are about keys, not about pacing.
    sim.configure(rate_limit_scale=20)


def master(world: World, **options: Any) -> HTTP:
    return pybit(world.url, world.api_key, world.api_secret, **options)


def mint(world: World, sub: int | None = None, **fields: Any) -> dict[str, Any]:
    body = {"readOnly": 0, "permissions": SPOT, **fields}
    answer = master(world).create_sub_api_key(subuid=sub or world.subs[0], **body)
    result: dict[str, Any] = answer["result"]
    return result


def as_key(world: World, created: dict[str, Any], **options: Any) -> HTTP:
    return pybit(world.url, created["apiKey"], created["secret"], **options)


def _parse(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")


def error_of(call: Any, *args: Any, **kwargs: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_create_answer_shape(world: World) -> None:
    answer = master(world).create_sub_api_key(
        subuid=world.subs[0], readOnly=0, note="bot-1", permissions=SPOT
    )
    assert answer["retMsg"] == ""
    result = answer["result"]
    assert list(result) == ["id", "note", "apiKey", "readOnly", "secret", "permissions"]
    assert re.fullmatch(r"[A-Za-z0-9]{18}", result["apiKey"])
    assert re.fullmatch(r"[A-Za-z0-9]{36}", result["secret"])
    assert isinstance(result["id"], str)
    assert (result["note"], result["readOnly"]) == ("bot-1", 0)
    assert list(result["permissions"]) == ALL_GROUPS
    assert result["permissions"]["Spot"] == ["SpotTrade"]
    assert result["permissions"]["Wallet"] == []


def test_query_api_describes_the_calling_key(world: World) -> None:
    created = mint(world, note="n1")
    info = as_key(world, created).get_api_key_information()["result"]
    assert info["apiKey"] == created["apiKey"]
    assert (info["secret"], info["readOnly"], info["ips"]) == ("", 0, ["*"])
    assert (info["isMaster"], info["parentUid"]) == (False, str(world.master_uid))
    assert info["userID"] == world.subs[0]
    assert info["deadlineDay"] == 89
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["expiredAt"])
    assert list(info["permissions"]) == ALL_GROUPS
    own = master(world).get_api_key_information()["result"]
    assert (own["isMaster"], own["parentUid"]) == (True, "0")


def test_sub_apikeys_types_and_cursor_paging(world: World, sim: SimControl) -> None:
    made = [mint(world, note=f"k{i}")["apiKey"] for i in range(5)]
    session = master(world)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"subMemberId": str(world.subs[0]), "limit": 2}
        result = session.get_all_sub_api_keys(**query, cursor=cursor)["result"]
        pages += 1
        for item in result["result"]:
            assert item["secret"] == "******"
            assert item["readOnly"] is False
            assert item["flag"] == "hmac"
            assert (item["status"], item["type"]) == (3, 1)
            seen.append(item["apiKey"])
        if result["nextPageCursor"] == "":
            break
        cursor = result["nextPageCursor"]
    assert pages == 3
    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize(
    "query",
    [{"subMemberId": "fakeid"}, {"subMemberId": "123"}, {"limit": 0}, {"limit": 21}],
)
def test_sub_apikeys_rejects_bad_queries(world: World, query: dict[str, Any]) -> None:
    params = {"subMemberId": str(world.subs[0]), **query}
    assert error_of(master(world).get_all_sub_api_keys, **params).status_code == 10001


@pytest.mark.parametrize("ips", ["127.0.0.2,10.0.0.1", ["127.0.0.2", "10.0.0.1"]])
def test_ips_as_string_or_array_come_back_as_array(world: World, ips: str | list[str]) -> None:
    created = mint(world, ips=ips)
    assert "ips" not in created
    listed = master(world).get_all_sub_api_keys(subMemberId=str(world.subs[0]))["result"]
    item = listed["result"][0]
    assert item["ips"] == ["127.0.0.2", "10.0.0.1"]
    assert (item["status"], item["deadlineDay"], item["expiredAt"]) == (
        1,
        -2,
        "1970-01-01T00:00:00Z",
    )


@pytest.mark.parametrize("ips", ["300.1.1.1", "10.0.0.0/8", "::1", "*,10.0.0.1", 7])
def test_invalid_ips_are_10001(world: World, ips: object) -> None:
    session = master(world)
    error = error_of(
        session.create_sub_api_key, subuid=world.subs[0], readOnly=0, ips=ips, permissions=SPOT
    )
    assert error.status_code == 10001


@pytest.mark.parametrize(
    ("permissions", "fragment"),
    [
        ({"Wallet": ["Withdraw"]}, "Wallet:Withdraw"),
        ({"Wallet": ["SubMemberTransfer"]}, "Wallet:SubMemberTransfer"),
        ({"BlockTrade": ["BlockTrade"]}, "BlockTrade:BlockTrade"),
        ({"Spot": ["Order"]}, "Spot:Order"),
        ({"Moon": ["Land"]}, "Moon"),
        ({}, "permission"),
    ],
)
def test_sub_key_permission_validation(
    world: World, permissions: dict[str, list[str]], fragment: str
) -> None:
    error = error_of(
        master(world).create_sub_api_key, subuid=world.subs[0], readOnly=0, permissions=permissions
    )
    assert error.status_code == 10001
    assert fragment in error.message


def test_subuid_must_be_an_int_and_a_sub_of_this_master(world: World, sim: SimControl) -> None:
    session = master(world)
    wrong_type = error_of(
        session.create_sub_api_key, subuid=str(world.subs[0]), readOnly=0, permissions=SPOT
    )
    assert wrong_type.status_code == 10001
    other = seed(sim, subaccounts=1)
    foreign = error_of(
        session.create_sub_api_key, subuid=other.subs[0], readOnly=0, permissions=SPOT
    )
    assert foreign.status_code == 141009
    sim.configure(lenient_types=True)
    assert mint(world, sub=None, readOnly="0")["readOnly"] == 0


def test_key_cap_on_the_21st_key(world: World, sim: SimControl) -> None:
    sim.configure(rate_limit_scale=100)
    for _ in range(20):
        mint(world)
    error = error_of(
        master(world).create_sub_api_key, subuid=world.subs[0], readOnly=0, permissions=SPOT
    )
    assert error.status_code == 10001
    assert error.message == "The number of API keys for this sub-account has reached the limit."
    sim.configure(key_cap_ret_code=10777, key_cap_ret_msg="too many keys")
    again = error_of(
        master(world).create_sub_api_key, subuid=world.subs[0], readOnly=0, permissions=SPOT
    )
    assert (again.status_code, again.message) == (10777, "too many keys")
    assert mint(world, sub=world.subs[1])["apiKey"]


def test_update_sub_api_as_master_and_as_the_sub_key(world: World) -> None:
    created = mint(world, permissions={"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]})
    session = master(world)
    missing = error_of(session.modify_sub_api_key, readOnly=1)
    assert missing.status_code == 10001
    updated = session.modify_sub_api_key(
        apikey=created["apiKey"], readOnly=1, ips="127.0.0.1", permissions=SPOT
    )["result"]
    assert list(updated) == ["id", "note", "apiKey", "readOnly", "secret", "permissions", "ips"]
    assert (updated["readOnly"], updated["secret"], updated["ips"]) == (1, "", ["127.0.0.1"])
    assert updated["permissions"]["Wallet"] == []

    # Omitting readOnly/ips leaves them as they are (the configurable default).
    again = session.modify_sub_api_key(apikey=created["apiKey"], permissions=SPOT)["result"]
    assert (again["readOnly"], again["ips"]) == (1, ["127.0.0.1"])

    self_key = mint(world, permissions={"Wallet": ["AccountTransfer"]})
    own = as_key(world, self_key)
    refused = error_of(own.modify_sub_api_key, apikey=self_key["apiKey"], ips="*")
    assert refused.status_code == 10001
    changed = own.modify_sub_api_key(ips=["127.0.0.1"], permissions={"Wallet": ["AccountTransfer"]})
    assert changed["result"]["ips"] == ["127.0.0.1"]


def test_sub_key_without_wallet_rights_cannot_modify_itself(world: World) -> None:
    own = as_key(world, mint(world))
    assert error_of(own.modify_sub_api_key, readOnly=1).status_code == 10005


def test_delete_sub_api_both_modes(world: World) -> None:
    first = mint(world)
    session = master(world)
    assert session.delete_sub_api_key(apikey=first["apiKey"])["result"] == {}
    with pytest.raises(FailedRequestError) as gone:
        as_key(world, first).get_api_key_information()
    assert gone.value.status_code == 401

    second = mint(world, permissions={"Wallet": ["SubMemberTransferList"]})
    own = as_key(world, second)
    assert error_of(own.delete_sub_api_key, apikey=second["apiKey"]).status_code == 10001
    assert own.delete_sub_api_key()["retCode"] == 0
    with pytest.raises(FailedRequestError):
        own.get_api_key_information()


def test_master_only_endpoints_refuse_sub_keys(world: World) -> None:
    own = as_key(world, mint(world, permissions={"Wallet": ["AccountTransfer"]}))
    for call, kwargs in [
        (own.create_sub_api_key, {"subuid": world.subs[0], "readOnly": 0, "permissions": SPOT}),
        (own.get_all_sub_api_keys, {"subMemberId": str(world.subs[0])}),
        (own.get_sub_uid_list, {}),
        (own.modify_master_api_key, {"readOnly": 0}),
        (own.delete_master_api_key, {}),
    ]:
        assert error_of(call, **kwargs).status_code == 10005


def test_master_needs_a_wallet_right_and_write_access(sim: SimControl) -> None:
    no_wallet = seed(sim, subaccounts=1, master_permissions={"Spot": ["SpotTrade"]})
    assert (
        error_of(master(no_wallet).create_sub_uid, username="abc123x", memberType=1).status_code
        == 10005
    )
    read_only = seed(sim, subaccounts=1, master_read_only=1)
    session = master(read_only)
    error = error_of(
        session.create_sub_api_key, subuid=read_only.subs[0], readOnly=0, permissions=SPOT
    )
    assert error.status_code == 10005
    assert session.get_sub_uid_list()["retCode"] == 0


def test_update_and_delete_master_key(world: World) -> None:
    session = master(world)
    fiat = {
        "FiatP2P": ["FiatP2POrder", "Advertising"],
        "FiatBitPay": ["FaitPayOrder"],
        "FiatConvertBroker": ["FiatConvertBrokerOrder"],
    }
    wanted = {"Wallet": ["AccountTransfer", "Withdraw"], "Spot": ["SpotTrade"]}
    # A read-write key may not drop (or add) the Fiat groups through the API.
    assert error_of(session.modify_master_api_key, permissions=wanted).status_code == 141020
    result = session.modify_master_api_key(readOnly=0, permissions={**wanted, **fiat})["result"]
    assert result["permissions"]["Wallet"] == ["AccountTransfer", "Withdraw"]
    assert result["permissions"]["ContractTrade"] == []
    assert result["ips"] == ["*"]
    assert error_of(session.modify_master_api_key, ips="1.2.3.4").status_code == 141019
    assert (
        error_of(
            session.modify_master_api_key,
            permissions={"Affiliate": ["Affiliate"], "Spot": ["SpotTrade"]},
        ).status_code
        == 10001
    )
    assert session.delete_master_api_key()["result"] == {}
    with pytest.raises(FailedRequestError) as gone:
        session.get_api_key_information()
    assert gone.value.status_code == 401


def test_expiry_status_and_expired_key(world: World, sim: SimControl) -> None:
    created = mint(world)
    sim.advance(85 * DAY)
    wide = {"recv_window": WIDE_RECV_WINDOW}
    listed = master(world, **wide).get_all_sub_api_keys(subMemberId=str(world.subs[0]))
    item = listed["result"]["result"][0]
    assert (item["status"], item["deadlineDay"]) == (4, 4)

    sim.advance(6 * DAY)
    error = error_of(as_key(world, created, **wide).get_api_key_information)
    assert (error.status_code, error.message) == (33004, "Your api key has expired")
    state_key = next(k for k in sim.state()["keys"] if k["apiKey"] == created["apiKey"])
    lifetime = _parse(state_key["expiredAt"]) - _parse(state_key["createdAt"])
    assert lifetime == timedelta(days=90)
    sim.configure(expired_key_ret_code=10003, expired_key_ret_msg="API key is invalid.")
    assert error_of(as_key(world, created, **wide).get_api_key_information).status_code == 10003


def test_ip_edit_restarts_the_expiry_clock(world: World, sim: SimControl) -> None:
    created = mint(world)
    sim.advance(50 * DAY)
    session = master(world, recv_window=51 * DAY * 1000)
    session.modify_sub_api_key(apikey=created["apiKey"], ips="127.0.0.1")
    session.modify_sub_api_key(apikey=created["apiKey"], ips="*")
    info = as_key(world, created, recv_window=51 * DAY * 1000).get_api_key_information()
    assert info["result"]["deadlineDay"] == 89


def test_ip_binding_is_checked_against_the_source_address(world: World) -> None:
    created = mint(world, ips="127.0.0.2")
    error = error_of(as_key(world, created).get_api_key_information)
    assert error.status_code == 10010
    assert error.message == "Unmatched IP, please check your API key's bound IP addresses."
    from_bound = pybit_from("127.0.0.2", world.url, created["apiKey"], created["secret"])
    assert from_bound.get_api_key_information()["result"]["ips"] == ["127.0.0.2"]
    raw = RawClient(world.url, created["apiKey"], created["secret"], local_address="127.0.0.2")
    assert raw.get("/v5/user/query-api").json()["retCode"] == 0


def test_trading_rights_follow_the_key(world: World) -> None:
    spot_key = as_key(world, mint(world))
    order = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": 0.01}
    placed = spot_key.place_order(category="spot", orderLinkId="mine-1", **order)
    assert set(placed["result"]) == {"orderId", "orderLinkId"}
    assert placed["result"]["orderLinkId"] == "mine-1"
    assert error_of(spot_key.place_order, category="linear", **order).status_code == 10005
    assert error_of(spot_key.place_order, category="option", **order).status_code == 10005

    contract = as_key(world, mint(world, permissions={"ContractTrade": ["Order"]}))
    assert contract.place_order(category="linear", **order)["retCode"] == 0
    assert contract.place_order(category="inverse", **order)["retCode"] == 0
    options = as_key(world, mint(world, permissions={"Options": ["OptionsTrade"]}))
    assert options.place_order(category="option", **order)["retCode"] == 0

    read_only = as_key(world, mint(world, readOnly=1))
    assert error_of(read_only.place_order, category="spot", **order).status_code == 10005
    balance = read_only.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert balance["accountType"] == "UNIFIED"
    assert balance["coin"][0]["coin"] == "USDT"
