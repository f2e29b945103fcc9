"""A bot's whole life with keymint, and every way a mint can be refused."""

from __future__ import annotations

import httpx
import hvac
import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError

from sim.simtools import pybit_from
from stackkit import ADMIN_RULES, BOT_IP, BOT_RULES, OTHER_IP, MakeStack, Stack, wait_for


def test_bot_flow_mint_use_renew_revoke(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    minted = stack.call("POST", "/v1/creds/spot-trader", bot, json={"ttl": "30m"})
    assert minted.status_code == 200, minted.text
    assert minted.headers["cache-control"] == "no-store"
    body = minted.json()
    data = body["data"]
    assert body["lease_duration"] == 1800 and body["renewable"] is True
    assert body["lease_id"].startswith("keymint/creds/spot-trader/")
    assert data["ips"] == [BOT_IP] and data["permissions"] == {"Spot": ["SpotTrade"]}
    assert len(data["api_key"]) == 18 and len(data["api_secret"]) == 36
    assert data["subaccount_uid"] in [int(s) for s in stack.master.subaccounts]

    [key] = stack.keys_at_bybit()
    assert key["apiKey"] == data["api_key"]
    assert key["note"] == "keymint:" + body["lease_id"].rsplit("-", 1)[1]
    assert key["ips"] == [BOT_IP]

    # The key works from the pinned IP, with exactly the rights it was given...
    session = pybit_from(BOT_IP, stack.sim.url, data["api_key"], data["api_secret"])
    assert session.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0
    order = session.place_order(
        category="spot", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
    )
    assert order["retCode"] == 0
    with pytest.raises(InvalidRequestError, match="10005"):
        session.place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
        )
    # ...and not from anywhere else.
    elsewhere = pybit_from(OTHER_IP, stack.sim.url, data["api_key"], data["api_secret"])
    with pytest.raises(InvalidRequestError, match="10010"):
        elsewhere.get_wallet_balance(accountType="UNIFIED")

    lease_path = f"/v1/leases/{body['lease_id']}"
    looked_up = stack.call("GET", lease_path, bot).json()["data"]
    assert looked_up["api_key"] == data["api_key"] and "api_secret" not in str(looked_up)

    renewed = stack.call("POST", lease_path + "/renew", bot, json={"increment": "1h"})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["lease_duration"] == pytest.approx(3600, abs=2)
    assert renewed.json()["data"]["expire_time"] > looked_up["expire_time"]

    revoked = stack.call("DELETE", lease_path, bot)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["data"] == {"revoked": [body["lease_id"]]}
    assert stack.keys_at_bybit() == []
    with pytest.raises(FailedRequestError):
        session.get_wallet_balance(accountType="UNIFIED")
    assert stack.call("GET", lease_path, bot).status_code == 404


def test_renewal_is_capped_at_max_ttl_with_a_warning(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    lease_id = stack.call("POST", "/v1/creds/spot-trader", bot).json()["lease_id"]
    renewed = stack.call("POST", f"/v1/leases/{lease_id}/renew", bot, json={"increment": "5h"})
    assert renewed.status_code == 200
    assert renewed.json()["lease_duration"] <= 7200
    assert "capped" in renewed.json()["warnings"][0]


@pytest.mark.parametrize(
    ("role", "body", "status", "message"),
    [
        ("nope", {}, 404, "role 'nope' not found"),
        ("spot-trader", {"ttl": "3h"}, 400, "exceeds the max_ttl of role 'spot-trader'"),
        ("spot-trader", {"ttl": "soon"}, 400, "ttl: 'soon' is not a duration"),
        ("spot-trader", {"tll": 60}, 400, "tll"),
    ],
)
def test_bad_mint_requests_create_nothing(
    stack: Stack, role: str, body: dict[str, object], status: int, message: str
) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call("POST", f"/v1/creds/{role}", admin, json=body)
    assert answer.status_code == status, answer.text
    assert any(message in e for e in answer.json()["errors"]), answer.text
    assert stack.keys_at_bybit() == []


def test_malformed_json_is_a_400(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call(
        "POST",
        "/v1/creds/spot-trader",
        admin,
        content=b'{"ttl": ',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == ["body: malformed JSON"]
    assert stack.keys_at_bybit() == []


def test_idempotent_retry_returns_the_same_key(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    first = stack.call("POST", "/v1/creds/spot-trader", bot, headers={"Idempotency-Key": "boot-1"})
    again = stack.call("POST", "/v1/creds/spot-trader", bot, headers={"Idempotency-Key": "boot-1"})
    other = stack.call("POST", "/v1/creds/spot-trader", bot, headers={"Idempotency-Key": "boot-2"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json()["lease_id"] == first.json()["lease_id"]
    assert again.json()["data"]["api_key"] == first.json()["data"]["api_key"]
    assert other.json()["lease_id"] != first.json()["lease_id"]
    assert len(stack.keys_at_bybit()) == 2


def test_wrapped_answer_unwraps_once(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    answer = stack.call("POST", "/v1/creds/spot-trader", bot, headers={"X-Vault-Wrap-TTL": "60"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["data"] is None and body["wrap_info"]["ttl"] == 60
    wrap_token = body["wrap_info"]["token"]
    # The bot unwraps with Vault itself, presenting the wrapping token as its token.
    unwrapper = hvac.Client(url=stack.vault.url, token=wrap_token)
    unwrapped = unwrapper.sys.unwrap()["data"]
    [key] = stack.keys_at_bybit()
    assert unwrapped["api_key"] == key["apiKey"] and len(unwrapped["api_secret"]) == 36
    assert unwrapped["lease_id"].startswith("keymint/creds/spot-trader/")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="wrapping token is not valid"):
        unwrapper.sys.unwrap()


def test_master_key_change_in_vault_applies_without_restart(make_stack: MakeStack) -> None:
    stack = make_stack(master_refresh_s=0.2)
    admin = stack.token(ADMIN_RULES)
    assert stack.call("POST", "/v1/creds/monitor", admin).status_code == 200
    stack.write_master(stack.master.api_key, "x" * 36)
    # The credential is cached for master_refresh_s: a broken one shows within that.
    refusals: list[httpx.Response] = []
    wait_for(
        lambda: (
            refusals.append(stack.call("POST", "/v1/creds/monitor", admin))
            or refusals[-1].status_code == 502
        )
    )
    assert "master key" in refusals[-1].json()["errors"][0]
    assert "x" * 36 not in refusals[-1].text
    rotated = stack.sim.add_master_key(stack.master.master_uid, master_ips=[BOT_IP])
    stack.write_master(rotated.api_key, rotated.api_secret)
    # Bybit refusing the cached key makes keymint read Vault again: the new key at once.
    assert stack.call("POST", "/v1/creds/monitor", admin).status_code == 200
    creates = stack.sim.requests("/v5/user/create-sub-api")
    assert {r["apiKey"] for r in creates if r["retCode"] == 0} == {
        stack.master.api_key,
        rotated.api_key,
    }
    assert creates[-1]["apiKey"] == rotated.api_key and creates[-1]["retCode"] == 0


def test_an_instance_id_header_is_capped_like_the_body_field(stack: Stack) -> None:
    bot = stack.token(BOT_RULES)
    long = stack.call(
        "POST", "/v1/creds/spot-trader", bot, headers={"X-Keymint-Instance": "p" * 129}
    )
    assert long.status_code == 400, long.text
    assert "x-keymint-instance" in long.json()["errors"][0].lower()
    assert stack.keys_at_bybit() == []
