"""Models take Bybit's documented examples as they are."""

from datetime import UTC, datetime

import pytest

from keymint.bybit import ApiKeyInfo, CallingKeyInfo, CreatedApiKey, ServerError, SubMember
from keymint.bybit.models import parse

SUB_APIKEYS_ITEM = {
    "id": "24828209",
    "ips": ["*"],
    "apiKey": "XXXXXX",
    "note": "UTA",
    "status": 3,
    "expiredAt": "2023-12-01T02:36:06Z",
    "createdAt": "2023-08-25T06:42:39Z",
    "type": 1,
    "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"]},
    "secret": "******",
    "readOnly": False,
    "deadlineDay": 21,
    "flag": "hmac",
}


def test_sub_apikeys_item_with_bool_read_only() -> None:
    key = parse(ApiKeyInfo, SUB_APIKEYS_ITEM, "/v5/user/sub-apikeys")
    assert key.read_only is False
    assert key.api_key == "XXXXXX"
    assert key.ips == ["*"]
    assert key.expired_at == datetime(2023, 12, 1, 2, 36, 6, tzinfo=UTC)
    assert key.created_at == datetime(2023, 8, 25, 6, 42, 39, tzinfo=UTC)
    assert (key.status, key.flag, key.deadline_day, key.type) == (3, "hmac", 21, 1)


def test_query_api_with_int_read_only_and_the_never_expires_sentinel() -> None:
    info = parse(
        CallingKeyInfo,
        {
            "id": "1",
            "note": "",
            "apiKey": "k",
            "readOnly": 1,
            "secret": "",
            "permissions": {},
            "ips": ["18.181.170.164"],
            "type": 1,
            "deadlineDay": -2,
            "expiredAt": "1970-01-01T00:00:00Z",
            "createdAt": "2025-10-13T03:20:45Z",
            "userID": 100001,
            "isMaster": True,
            "parentUid": "0",
        },
        "/v5/user/query-api",
    )
    assert info.read_only is True
    assert info.expired_at is None
    assert info.deadline_day == -2
    assert info.user_id == "100001"
    assert info.is_master


def test_create_response_keeps_the_secret_out_of_repr() -> None:
    created = parse(
        CreatedApiKey,
        {
            "id": "16651283",
            "note": "n",
            "apiKey": "k",
            "readOnly": 0,
            "secret": "the-one-time-secret",
            "permissions": {"Wallet": ["AccountTransfer"]},
            "ips": ["1.2.3.4"],
        },
        "/v5/user/create-sub-api",
    )
    assert created.secret.get_secret_value() == "the-one-time-secret"
    assert "the-one-time-secret" not in repr(created)
    assert "the-one-time-secret" not in str(created)


def test_create_sub_member_answer_has_no_account_mode() -> None:
    member = parse(
        SubMember,
        {"uid": "53888000", "username": "xxxxx", "memberType": 1, "status": 1, "remark": "test"},
        "/v5/user/create-sub-member",
    )
    assert member.uid == "53888000"
    assert member.account_mode is None


def test_a_malformed_create_answer_names_fields_but_not_the_secret() -> None:
    with pytest.raises(ServerError) as info:
        parse(
            CreatedApiKey,
            {"id": "1", "apiKey": "k", "readOnly": "maybe", "secret": "leak-me", "ips": []},
            "/v5/user/create-sub-api",
        )
    assert "readOnly" in str(info.value)
    assert "leak-me" not in str(info.value)
    assert info.value.__context__ is None
