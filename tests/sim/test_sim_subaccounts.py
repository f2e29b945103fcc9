"""Sub-account endpoints: create, list (both kinds), freeze, delete, wallet types."""

from __future__ import annotations

from typing import Any

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from bybit_sim.control_client import SimControl
from sim.simtools import World, pybit, seed

SPOT = {"Spot": ["SpotTrade"]}


@pytest.fixture(autouse=True)
def fast_limits(sim: SimControl) -> None:
    sim.configure(rate_limit_scale=20)


def master(world: World) -> HTTP:
    return pybit(world.url, world.api_key, world.api_secret)


def error_code(call: Any, **kwargs: Any) -> int:
    with pytest.raises(InvalidRequestError) as caught:
        call(**kwargs)
    code: int = caught.value.status_code
    return code


def test_create_sub_member_answer_and_unique_usernames(world: World) -> None:
    session = master(world)
    answer = session.create_sub_uid(username="bot2024a", memberType=1, note="for bots")
    result = answer["result"]
    assert answer["retMsg"] == ""
    assert list(result) == ["uid", "username", "memberType", "status", "remark"]
    assert isinstance(result["uid"], str)
    assert 8 <= len(result["uid"]) <= 9
    assert (result["username"], result["memberType"], result["status"]) == ("bot2024a", 1, 1)
    assert result["remark"] == "for bots"
    assert error_code(session.create_sub_uid, username="bot2024a", memberType=1) == 31005
    # Usernames stay taken after the sub-account is deleted.
    session.delete_sub_uid(subMemberId=result["uid"])
    assert error_code(session.create_sub_uid, username="bot2024a", memberType=1) == 31005


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "short1", "memberType": 1, "password": "weak"},
        {"username": "abc12", "memberType": 1},
        {"username": "onlyletters", "memberType": 1},
        {"username": "12345678", "memberType": 1},
        {"username": "waytoolongname12345", "memberType": 1},
        {"username": "good1234", "memberType": 3},
        {"username": "good1234"},
    ],
)
def test_create_sub_member_validation(world: World, fields: dict[str, Any]) -> None:
    assert error_code(master(world).create_sub_uid, **fields) == 10001


def test_subaccount_cap(sim: SimControl, world: World) -> None:
    sim.configure(max_subaccounts_per_master=3, subaccount_cap_ret_code=10999)
    session = master(world)
    session.create_sub_uid(username="third3", memberType=6)
    assert error_code(session.create_sub_uid, username="fourth4", memberType=1) == 10999


def test_query_sub_members_lists_this_masters_subs(sim: SimControl, world: World) -> None:
    seed(sim, subaccounts=3)
    members = master(world).get_sub_uid_list()["result"]["subMembers"]
    assert [int(m["uid"]) for m in members] == world.subs
    assert list(members[0]) == ["uid", "username", "memberType", "status", "remark", "accountMode"]
    assert members[0]["accountMode"] == 5


def test_submembers_pages_with_next_cursor(sim: SimControl) -> None:
    world = seed(sim, subaccounts=5)
    session = master(world)
    seen: list[str] = []
    cursor = None
    while True:
        result = session.get_sub_uid_list_unlimited(pageSize="2", nextCursor=cursor)["result"]
        assert len(result["subMembers"]) <= 2
        seen.extend(m["uid"] for m in result["subMembers"])
        if result["nextCursor"] == "0":
            break
        cursor = result["nextCursor"]
    assert sorted(int(uid) for uid in seen) == sorted(world.subs)
    assert error_code(session.get_sub_uid_list_unlimited, pageSize="101") == 10001


def test_frozen_sub_account_keys_are_refused(sim: SimControl, world: World) -> None:
    session = master(world)
    created = session.create_sub_api_key(subuid=world.subs[0], readOnly=0, permissions=SPOT)
    sub_key = pybit(world.url, created["result"]["apiKey"], created["result"]["secret"])
    assert session.freeze_sub_uid(subuid=world.subs[0], frozen=1)["result"] == {}
    assert error_code(sub_key.get_api_key_information) == 10005
    listed = session.get_sub_uid_list()["result"]["subMembers"]
    assert listed[0]["status"] == 4
    assert session.get_sub_uid()["result"]["transferableSubMemberIds"] == [str(world.subs[1])]
    session.freeze_sub_uid(subuid=world.subs[0], frozen=0)
    assert sub_key.get_api_key_information()["retCode"] == 0
    assert error_code(session.freeze_sub_uid, subuid=123, frozen=1) == 141009


def test_del_submember_deletes_its_keys(sim: SimControl, world: World) -> None:
    session = master(world)
    created = session.create_sub_api_key(subuid=world.subs[0], readOnly=0, permissions=SPOT)
    answer = session.delete_sub_uid(subMemberId=str(world.subs[0]))
    assert (answer["retMsg"], answer["result"]) == ("OK", {})
    with pytest.raises(FailedRequestError) as gone:
        pybit(
            world.url, created["result"]["apiKey"], created["result"]["secret"]
        ).get_api_key_information()
    assert gone.value.status_code == 401
    assert all(k["uid"] != str(world.subs[0]) for k in sim.state()["keys"])
    assert error_code(session.delete_sub_uid, subMemberId=str(world.subs[0])) == 141009
    assert error_code(session.delete_sub_uid, subMemberId=world.subs[1]) == 10001


def test_get_member_type(world: World) -> None:
    session = master(world)
    alone = session.get_uid_wallet_type()["result"]["accounts"]
    assert alone == [{"uid": str(world.master_uid), "accountType": ["UNIFIED", "FUND"]}]
    ids = ",".join(str(uid) for uid in reversed(world.subs))
    accounts = session.get_uid_wallet_type(memberIds=ids)["result"]["accounts"]
    assert [a["uid"] for a in accounts] == [str(world.master_uid)] + [
        str(u) for u in reversed(world.subs)
    ]
    assert error_code(session.get_uid_wallet_type, memberIds="123") == 10001

    created = session.create_sub_api_key(subuid=world.subs[0], readOnly=1, permissions=SPOT)
    sub_key = pybit(world.url, created["result"]["apiKey"], created["result"]["secret"])
    own = sub_key.get_uid_wallet_type(memberIds=str(world.subs[1]))["result"]["accounts"]
    assert [a["uid"] for a in own] == [str(world.subs[0])]


def test_query_sub_member_list(world: World) -> None:
    answer = master(world).get_sub_uid()
    assert answer["result"]["subMemberIds"] == [str(uid) for uid in world.subs]
