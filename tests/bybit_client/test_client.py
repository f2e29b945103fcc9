"""Every client method against the simulator, checked through the simulator's own state."""

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from bybit_client.support import IPS, PERMISSIONS, keys_of, make_client, mint_key
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import AuthError, BybitClient, CallingKeyInfo, InvalidRequestError, RequestEvent


async def test_server_time_is_the_simulators_clock(client: BybitClient, sim: SimControl) -> None:
    sim.advance(120)
    server = await client.server_time()
    assert abs(server.epoch_ms - (time.time() * 1000 + 120_000)) < 2_000
    assert server.time_second == server.time_nano // 1_000_000_000


async def test_query_api_describes_the_master_key(
    client: BybitClient, account: SeededMaster
) -> None:
    info = await client.query_api()
    assert isinstance(info, CallingKeyInfo)
    assert (info.api_key, info.user_id, info.is_master) == (
        account.api_key,
        account.master_uid,
        True,
    )
    assert info.ips == ["*"]
    assert info.permissions["Wallet"] == ["AccountTransfer", "SubMemberTransfer", "Withdraw"]


async def test_sub_member_lifecycle(client: BybitClient, sim: SimControl) -> None:
    created = await client.create_sub_member(
        "bot0001a", note="trading bot", password=SecretStr("Passw0rdX")
    )
    assert (created.username, created.member_type, created.remark) == ("bot0001a", 1, "trading bot")
    assert created.uid in {str(a["uid"]) for a in sim.state()["accounts"]}

    await client.freeze_sub_member(created.uid, frozen=True)
    listed = {m.uid: m for m in await client.list_sub_members()}
    assert listed[created.uid].status == 4
    await client.freeze_sub_member(created.uid, frozen=False)
    assert {m.uid: m.status for m in await client.list_sub_members()}[created.uid] == 1

    await client.delete_sub_member(created.uid)
    assert created.uid not in {m.uid for m in await client.list_sub_members()}


async def test_iter_sub_members_follows_every_page(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    for n in range(4):
        await client.create_sub_member(f"pager{n}x1")
    members = [m async for m in client.iter_sub_members(page_size=2)]
    assert len(members) == 7
    assert {m.uid for m in members} >= set(account.subaccounts)
    assert all(m.account_mode is not None for m in members)
    assert len(sim.requests("/v5/user/submembers")) == 4


async def test_get_member_type_lists_the_master_first(
    client: BybitClient, account: SeededMaster
) -> None:
    types = await client.get_member_type(account.subaccounts[:2])
    assert [t.uid for t in types] == [account.master_uid, *account.subaccounts[:2]]
    assert all(t.account_types for t in types)
    with pytest.raises(ValueError, match="200"):
        await client.get_member_type([str(n) for n in range(201)])


async def test_create_sub_api_key_returns_the_secret_once(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[0]
    created = await mint_key(client, sub, "lease-1")
    assert created.note == "lease-1"
    assert created.ips == IPS
    assert created.read_only is False
    assert len(created.secret.get_secret_value()) == 36
    [stored] = keys_of(sim, sub)
    assert (stored["apiKey"], stored["ips"], stored["note"]) == (created.api_key, IPS, "lease-1")

    listed = await client.list_sub_api_keys(sub)
    assert [k.api_key for k in listed] == [created.api_key]
    assert listed[0].permissions["ContractTrade"] == ["Order", "Position"]
    assert listed[0].status == 1  # IP-bound keys do not expire
    assert listed[0].expired_at is None


async def test_the_new_secret_signs_for_the_sub_account(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[1]
    created = await client.create_sub_api_key(
        sub, note="self", permissions=PERMISSIONS, read_only=True, ips=["127.0.0.1"]
    )
    async with BybitClient(sim.url, created.api_key, created.secret) as as_sub:
        info = await as_sub.query_api()
    assert (info.user_id, info.is_master, info.parent_uid) == (sub, False, account.master_uid)
    assert info.read_only is True


@pytest.mark.parametrize("ips", [["*"], [], ["1.2.3.4", "*"], ["1.2.3.4,5.6.7.8"]])
async def test_unbound_or_malformed_ips_are_refused_before_sending(
    client: BybitClient, sim: SimControl, account: SeededMaster, ips: list[str]
) -> None:
    with pytest.raises(ValueError, match="'\\*'"):
        await client.create_sub_api_key(
            account.subaccounts[0], note="n", permissions=PERMISSIONS, read_only=False, ips=ips
        )
    with pytest.raises(ValueError, match="'\\*'"):
        await client.update_sub_api_key("k", permissions=PERMISSIONS, read_only=False, ips=ips)
    assert sim.requests("/v5/user/create-sub-api") == []
    assert sim.requests("/v5/user/update-sub-api") == []


async def test_update_sub_api_key_sends_every_field(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[0]
    created = await mint_key(client, sub, "upd")
    updated = await client.update_sub_api_key(
        created.api_key, permissions={"Spot": ["SpotTrade"]}, read_only=True, ips=["10.1.1.1"]
    )
    assert (updated.api_key, updated.read_only, updated.ips) == (
        created.api_key,
        True,
        ["10.1.1.1"],
    )
    assert updated.permissions["Spot"] == ["SpotTrade"]
    assert updated.permissions["ContractTrade"] == []
    [stored] = keys_of(sim, sub)
    assert (stored["ips"], stored["readOnly"]) == (["10.1.1.1"], 1)


async def test_delete_sub_api_key(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[2]
    created = await mint_key(client, sub, "del")
    await client.delete_sub_api_key(created.api_key)
    assert keys_of(sim, sub) == []
    # Without a lost response in between, deleting a missing key is the caller's mistake.
    with pytest.raises(InvalidRequestError):
        await client.delete_sub_api_key(created.api_key)


async def test_list_sub_api_keys_follows_the_cursor_past_twenty(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sim.configure(max_keys_per_subaccount=30)
    sub = account.subaccounts[0]
    notes = [f"bulk-{n:02}" for n in range(25)]
    for note in notes:
        await mint_key(client, sub, note, read_only=True)

    keys = await client.list_sub_api_keys(sub)

    assert sorted(k.note for k in keys) == notes
    assert len({k.api_key for k in keys}) == 25
    assert len(sim.requests("/v5/user/sub-apikeys")) == 2
    found = await client.find_sub_api_key_by_note(sub, "bulk-24")
    assert found is not None and found.note == "bulk-24"
    assert await client.find_sub_api_key_by_note(sub, "absent") is None


async def test_update_master_api_key(client: BybitClient) -> None:
    # A read-write key may not touch the Fiat groups, so the rest is carried over unchanged.
    permissions = {**(await client.query_api()).permissions, "Spot": []}
    updated = await client.update_master_api_key(permissions=permissions, read_only=False)
    assert updated.permissions == permissions
    assert updated.read_only is False
    assert (await client.query_api()).permissions == permissions


async def test_delete_master_api_key_leaves_a_client_that_cannot_sign(
    client: BybitClient,
) -> None:
    await client.delete_master_api_key()
    with pytest.raises(AuthError) as info:
        await client.query_api()
    assert info.value.ret_code == 10003


async def test_master_credentials_rotate_on_a_live_client(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    assert (await client.query_api()).user_id == account.master_uid
    other = sim.seed(subaccounts=1)

    client.set_credentials(other.api_key, SecretStr(other.api_secret))

    assert client.api_key == other.api_key
    assert other.api_key in repr(client)
    assert (await client.query_api()).user_id == other.master_uid
    assert [m.uid for m in await client.list_sub_members()] == other.subaccounts


async def test_a_bad_key_is_fixed_by_rotating_to_the_good_one(
    sim: SimControl, account: SeededMaster
) -> None:
    stale = SeededMaster(account.master_uid, "notAKeyAtAll00000", account.api_secret, [])
    async with make_client(sim, stale) as client:
        with pytest.raises(AuthError):
            await client.query_api()
        client.set_credentials(account.api_key, SecretStr(account.api_secret))
        assert (await client.query_api()).user_id == account.master_uid


async def test_rsa_master_key_signs_requests(sim: SimControl) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    seeded = sim.seed(subaccounts=1, rsa_public_key=public_pem.decode())
    rsa_account = SeededMaster(
        seeded.master_uid, seeded.api_key, private_pem.decode(), seeded.subaccounts
    )
    async with make_client(sim, rsa_account) as client:
        assert (await client.query_api()).user_id == seeded.master_uid
        created = await mint_key(client, seeded.subaccounts[0], "rsa", read_only=True)
    assert created.secret.get_secret_value()


async def test_repr_shows_base_url_and_key_only(account: SeededMaster, sim: SimControl) -> None:
    async with make_client(sim, account) as client:
        assert repr(client) == f"BybitClient(base_url={sim.url!r}, api_key={account.api_key!r})"


async def test_a_failing_request_hook_does_not_fail_the_call(
    sim: SimControl, account: SeededMaster
) -> None:
    def broken(event: RequestEvent) -> None:
        raise RuntimeError("metrics bug")

    async with make_client(sim, account, on_request=broken) as client:
        assert (await client.query_api()).user_id == account.master_uid
    assert len(sim.requests("/v5/user/query-api")) == 1
