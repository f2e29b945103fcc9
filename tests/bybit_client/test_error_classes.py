"""Real simulator answers raise the error class a caller acts on."""

import pytest

from bybit_client.support import KEY_CAP_RET_CODE, keys_of, make_client, mint_key
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import (
    AuthError,
    BybitClient,
    InvalidRequestError,
    IpNotAllowedError,
    KeyCapError,
    PermissionDeniedError,
)


async def test_unknown_key_is_10003(sim: SimControl, account: SeededMaster) -> None:
    unknown = SeededMaster(account.master_uid, "unknownKey0000000", account.api_secret, [])
    async with make_client(sim, unknown) as client:
        with pytest.raises(AuthError) as info:
            await client.query_api()
    assert (info.value.ret_code, info.value.http_status) == (10003, 401)


async def test_bad_signature_is_10004_and_never_carries_the_signature(
    sim: SimControl, account: SeededMaster
) -> None:
    wrong = SeededMaster(account.master_uid, account.api_key, "y" * 36, [])
    async with make_client(sim, wrong) as client:
        with pytest.raises(AuthError) as info:
            await client.list_sub_api_keys(account.subaccounts[0])
    assert info.value.ret_code == 10004
    assert f"subMemberId={account.subaccounts[0]}" in info.value.ret_msg  # the origin string
    assert "X-BAPI-SIGN" not in str(info.value)


async def test_a_key_without_wallet_permission_is_denied(sim: SimControl) -> None:
    limited = sim.seed(subaccounts=1, master_permissions={"Spot": ["SpotTrade"]})
    async with make_client(sim, limited) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.create_sub_member("denied01")
    assert info.value.ret_code == 10005


async def test_a_key_bound_elsewhere_is_10010(sim: SimControl) -> None:
    bound = sim.seed(subaccounts=1, master_ips=["10.9.9.9"])
    async with make_client(sim, bound) as client:
        with pytest.raises(IpNotAllowedError) as info:
            await client.query_api()
    assert info.value.ret_code == 10010


async def test_an_expired_key_is_an_auth_error(client: BybitClient, sim: SimControl) -> None:
    sim.advance(91 * 86_400)  # the unbound master key outlives its 90 days
    with pytest.raises(AuthError) as info:
        await client.query_api()
    assert info.value.ret_code == 33004


async def test_a_bad_parameter_is_10001(client: BybitClient) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await client.create_sub_member("x")
    assert info.value.ret_code == 10001
    assert type(info.value) is InvalidRequestError


async def test_the_key_cap_is_its_own_class(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sim.configure(max_keys_per_subaccount=1)
    sub = account.subaccounts[0]
    await mint_key(client, sub, "a", read_only=True)
    with pytest.raises(KeyCapError) as info:
        await mint_key(client, sub, "b", read_only=True)
    assert info.value.ret_code == KEY_CAP_RET_CODE
    assert len(keys_of(sim, sub)) == 1
