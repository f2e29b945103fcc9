"""Signing, timestamps and key errors, driven with unmodified pybit 5.17.0 and a raw client."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pybit.exceptions import FailedRequestError, InvalidRequestError

from bybit_sim.control_client import SimControl
from sim.simtools import RawClient, World, now_ms, pybit, ret_codes, seed

QUERY_API = "/v5/user/query-api"


def test_market_time_needs_no_auth_and_follows_the_clock(sim: SimControl) -> None:
    before = httpx.get(f"{sim.url}/v5/market/time").json()
    sim.advance(3600)
    after = httpx.get(f"{sim.url}/v5/market/time").json()
    assert list(before) == ["retCode", "retMsg", "result", "retExtInfo", "time"]
    assert before["retMsg"] == "OK"
    assert int(before["result"]["timeNano"]) // 10**9 == int(before["result"]["timeSecond"])
    assert 3600 <= int(after["result"]["timeSecond"]) - int(before["result"]["timeSecond"]) < 3610
    from_pybit = pybit(sim.url, "", "").get_server_time()
    assert abs(int(from_pybit["result"]["timeSecond"]) - int(after["result"]["timeSecond"])) <= 2


def test_envelope_order_and_content_type(world: World) -> None:
    response = RawClient(world.url, world.api_key, world.api_secret).get(QUERY_API)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["retCode", "retMsg", "result", "retExtInfo", "time"]
    assert (body["retCode"], body["retMsg"], body["retExtInfo"]) == (0, "", {})


def test_pybit_retries_10002_with_a_larger_recv_window(sim: SimControl, world: World) -> None:
    # Server 6 s ahead: outside the default 5 s window, inside pybit's retry window of 7.5 s.
    sim.advance(6)
    answer = pybit(world.url, world.api_key, world.api_secret).get_api_key_information()
    assert answer["retCode"] == 0
    assert ret_codes(sim, QUERY_API) == [10002, 0]


def test_pybit_gives_up_when_the_client_clock_is_ahead(sim: SimControl, world: World) -> None:
    sim.advance(-2)  # the client is 2 s ahead: a larger recv_window cannot help
    session = pybit(world.url, world.api_key, world.api_secret, max_retries=2)
    with pytest.raises(FailedRequestError, match=r"(?i)retries exceeded maximum"):
        session.get_api_key_information()
    assert ret_codes(sim, QUERY_API) == [10002, 10002]


def test_10002_message_names_both_timestamps(world: World) -> None:
    ts = now_ms() - 20_000
    body = RawClient(world.url, world.api_key, world.api_secret).get(QUERY_API, ts=ts).json()
    assert body["retCode"] == 10002
    assert body["retMsg"].startswith(
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{ts}],server_timestamp["
    )
    assert body["retMsg"].endswith(",recv_window[5000]")


def test_timestamp_window_edges(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    assert raw.get(QUERY_API, ts=now_ms() - 4000).json()["retCode"] == 0
    assert raw.get(QUERY_API, ts=now_ms() + 500).json()["retCode"] == 0
    assert raw.get(QUERY_API, ts=now_ms() + 1500).json()["retCode"] == 10002
    assert raw.get(QUERY_API, ts=now_ms() - 9000, recv_window="10000").json()["retCode"] == 0


def test_wrong_secret_is_10004_with_the_origin_string(sim: SimControl, world: World) -> None:
    session = pybit(world.url, world.api_key, "not-the-secret")
    with pytest.raises(InvalidRequestError) as caught:
        session.get_sub_uid_list()
    assert caught.value.status_code == 10004
    message = caught.value.message
    assert message.startswith("error sign! origin_string[")
    assert f"{world.api_key}5000]" in message

    sim.configure(sign_error_format="2026")
    with pytest.raises(InvalidRequestError) as masked:
        session.get_sub_uid_list()
    assert masked.value.message == (
        "Error sign, please check your signature generation algorithm: origin_string[***]"
    )


def test_unknown_key_is_http_401_for_pybit(sim: SimControl, world: World) -> None:
    session = pybit(world.url, "AAAAAAAAAAAAAAAAAA", world.api_secret)
    with pytest.raises(FailedRequestError) as caught:
        session.get_api_key_information()
    assert caught.value.status_code == 401
    raw = RawClient(world.url, "AAAAAAAAAAAAAAAAAA", world.api_secret).get(QUERY_API)
    assert raw.status_code == 401
    assert raw.json()["retCode"] == 10003
    assert raw.json()["retMsg"] == "API key is invalid."

    sim.configure(invalid_key_http_status=200)
    with pytest.raises(InvalidRequestError) as in_body:
        session.get_api_key_information()
    assert in_body.value.status_code == 10003


def test_missing_auth_headers_are_401(world: World) -> None:
    response = httpx.get(f"{world.url}{QUERY_API}")
    assert response.status_code == 401
    assert response.json()["retCode"] == 10003
    headers = RawClient(world.url, world.api_key, world.api_secret).headers("")
    del headers["X-BAPI-SIGN"]
    unsigned = httpx.get(f"{world.url}{QUERY_API}", headers=headers)
    assert unsigned.status_code == 401
    assert "X-BAPI-SIGN" in unsigned.json()["retMsg"]


def test_get_with_a_body_is_403(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    response = raw.http.request("GET", QUERY_API, content=b"{}", headers=raw.headers(""))
    assert response.status_code == 403


def test_unknown_path_is_404_by_default_and_configurable(sim: SimControl, world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    response = raw.get("/v5/user/no-such-thing")
    assert response.status_code == 404
    assert response.json()["retCode"] == 10017
    sim.configure(unknown_path_http_status=200)
    assert raw.get("/v5/user/no-such-thing").status_code == 200


def test_signature_covers_the_wire_query_not_the_decoded_one(world: World) -> None:
    # pybit signs `cursor=a b` but requests sends `cursor=a%20b`; the wire form is verified.
    session = pybit(world.url, world.api_key, world.api_secret)
    with pytest.raises(InvalidRequestError) as caught:
        session.get_all_sub_api_keys(subMemberId=str(world.subs[0]), cursor="a b")
    assert caught.value.status_code == 10004
    assert "cursor=a%20b" in caught.value.message
    # Signing the exact wire bytes passes auth; the cursor itself is then the problem.
    raw = RawClient(world.url, world.api_key, world.api_secret)
    body = raw.get("/v5/user/sub-apikeys", f"cursor=a%20b&subMemberId={world.subs[0]}").json()
    assert body["retCode"] == 10001
    assert "cursor" in body["retMsg"]


def test_post_signature_covers_the_raw_body_bytes(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    # Odd whitespace and newlines: whatever bytes arrive are what is verified.
    body = f'{{\n  "subuid" :{world.subs[0]},\n"readOnly":1, "permissions": {{"Spot": []}}}}'
    assert raw.post("/v5/user/create-sub-api", body).json()["retCode"] == 0
    headers = raw.headers(body)
    reserialised = json.dumps(json.loads(body), separators=(",", ":"))
    response = raw.http.post("/v5/user/create-sub-api", content=reserialised, headers=headers)
    assert response.json()["retCode"] == 10004


def test_body_that_is_not_json_is_10001(world: World) -> None:
    raw = RawClient(world.url, world.api_key, world.api_secret)
    body = raw.post("/v5/user/create-sub-api", "subuid=1").json()
    assert (body["retCode"], body["retMsg"]) == (10001, "params error: body not json")


def _rsa_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def test_rsa_master_key_with_pybit(sim: SimControl) -> None:
    private_pem, public_pem = _rsa_pair()
    world = seed(sim, subaccounts=1, rsa_public_key=public_pem)
    assert world.api_secret == ""
    session = pybit(world.url, world.api_key, private_pem, rsa_authentication=True)
    info = session.get_api_key_information()["result"]
    assert info["rsaPublicKey"] == public_pem
    created = session.create_sub_api_key(
        subuid=world.subs[0], readOnly=0, permissions={"Spot": ["SpotTrade"]}
    )
    assert created["retCode"] == 0

    other_private, _ = _rsa_pair()
    impostor = pybit(world.url, world.api_key, other_private, rsa_authentication=True)
    with pytest.raises(InvalidRequestError) as caught:
        impostor.get_api_key_information()
    assert caught.value.status_code == 10004


def test_rsa_public_key_may_be_bare_base64(sim: SimControl) -> None:
    private_pem, public_pem = _rsa_pair()
    bare = "".join(line for line in public_pem.splitlines() if "-----" not in line)
    world = seed(sim, rsa_public_key=bare)
    origin = f"{now_ms()}{world.api_key}5000"
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(origin.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "X-BAPI-API-KEY": world.api_key,
        "X-BAPI-TIMESTAMP": origin[:13],
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": base64.b64encode(signature).decode(),
    }
    assert httpx.get(f"{world.url}{QUERY_API}", headers=headers).json()["retCode"] == 0
