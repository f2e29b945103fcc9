"""No secret, password or signature ever shows in an exception, a repr or a log line."""

import logging

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bybit_client.support import make_client, mint_key
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import AuthError, CreateOutcomeLost, KeyCapError

# Long enough that a chance appearance inside a message is not a worry.
secrets = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=12,
    max_size=48,
)
passwords = st.from_regex(r"[A-Z][a-z]{4,10}[0-9]{3,8}", fullmatch=True)

EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def renderings(error: BaseException, *others: object) -> str:
    parts = [str(error), repr(error), *map(repr, error.args), *map(repr, others)]
    if isinstance(error, CreateOutcomeLost):
        parts += [str(error.cause), repr(error.cause)]
    return "\n".join(parts)


@EXAMPLES
@given(secret=secrets, password=passwords)
async def test_a_wrong_secret_and_a_password_never_leak(
    sim: SimControl,
    account: SeededMaster,
    caplog: pytest.LogCaptureFixture,
    secret: str,
    password: str,
) -> None:
    signatures: list[str] = []

    async def capture(request: httpx.Request) -> None:
        signatures.append(request.headers["X-BAPI-SIGN"])

    wrong = SeededMaster(account.master_uid, account.api_key, secret, [])
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="keymint")
    async with (
        httpx.AsyncClient(event_hooks={"request": [capture]}) as http,
        make_client(sim, wrong, http_client=http) as client,
    ):
        with pytest.raises(AuthError) as info:
            await client.create_sub_member("leaky01x", password=SecretStr(password))
        text = renderings(info.value, client)

    assert info.value.ret_code == 10004
    assert "origin_string" in info.value.ret_msg  # Bybit's echo survives, the body does not
    for leak in (secret, password, *signatures):
        assert leak not in text
        assert leak not in caplog.text


@EXAMPLES
@given(note=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40))
async def test_a_received_secret_never_reaches_later_errors(
    sim: SimControl, account: SeededMaster, caplog: pytest.LogCaptureFixture, note: str
) -> None:
    received: list[str] = []

    async def capture(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/create-sub-api"):
            await response.aread()
            received.append(response.json()["result"].get("secret", ""))

    sub = account.subaccounts[0]
    sim.configure(max_keys_per_subaccount=1)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="keymint")
    async with (
        httpx.AsyncClient(event_hooks={"response": [capture]}) as http,
        make_client(sim, account, http_client=http) as client,
    ):
        good = await mint_key(client, sub, note, read_only=True)
        with pytest.raises(KeyCapError) as capped:
            await mint_key(client, sub, f"{note}-2", read_only=True)
        sim.fault("/v5/user/create-sub-api", drop_after_action=True)
        sim.configure(max_keys_per_subaccount=2)
        with pytest.raises(CreateOutcomeLost) as lost:
            await mint_key(client, sub, f"{note}-3", read_only=True)
        await client.delete_sub_api_key(good.api_key)
        text = renderings(capped.value, good) + renderings(lost.value, client)

    secret = good.secret.get_secret_value()
    assert received[0] == secret
    assert secret not in text
    assert secret not in caplog.text
