"""A create whose response is lost is resolved by note, never retried; deletes are idempotent."""

import pytest

from bybit_client.support import keys_of, make_client, mint_key
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import BybitClient, CreateOutcome, CreateOutcomeLost

CREATE = "/v5/user/create-sub-api"
DELETE = "/v5/user/delete-sub-api"
LIST = "/v5/user/sub-apikeys"


async def test_a_dropped_create_is_found_by_note_and_deleted(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[0]
    sim.fault(CREATE, drop_after_action=True)

    with pytest.raises(CreateOutcomeLost) as info:
        await mint_key(client, sub, "lease-42")

    lost = info.value
    assert lost.outcome is CreateOutcome.DELETED
    assert (lost.sub_uid, lost.note) == (sub, "lease-42")
    assert lost.api_key is not None
    assert "deleted" in str(lost)
    assert keys_of(sim, sub) == []
    assert len(sim.requests(CREATE)) == 1  # never re-sent
    assert [e["retCode"] for e in sim.requests(DELETE)] == [0]


async def test_a_timed_out_create_leaves_no_key(sim: SimControl, account: SeededMaster) -> None:
    sub = account.subaccounts[1]
    sim.fault(CREATE, timeout=True)
    async with make_client(sim, account, timeout_s=0.5) as client:
        with pytest.raises(CreateOutcomeLost) as info:
            await mint_key(client, sub, "lease-42")
    assert info.value.outcome in (CreateOutcome.NOT_CREATED, CreateOutcome.DELETED)
    assert keys_of(sim, sub) == []
    assert len(sim.requests(CREATE)) <= 1


async def test_a_5xx_create_that_did_nothing_says_so(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sim.fault(CREATE, http_status=502)
    with pytest.raises(CreateOutcomeLost) as info:
        await mint_key(client, account.subaccounts[0], "lease-42")
    assert info.value.outcome is CreateOutcome.NOT_CREATED
    assert info.value.api_key is None
    assert "none was created" in str(info.value)
    assert sim.requests(DELETE) == []


async def test_a_key_that_cannot_be_deleted_is_reported_by_id(
    sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[2]
    sim.fault(CREATE, drop_after_action=True)
    sim.fault(DELETE, http_status=503, count=None)
    async with make_client(sim, account, max_retries=1) as client:
        with pytest.raises(CreateOutcomeLost) as info:
            await mint_key(client, sub, "lease-42")
    [left] = keys_of(sim, sub)
    assert info.value.outcome is CreateOutcome.ORPHANED
    assert info.value.api_key == left["apiKey"]
    assert left["apiKey"] in str(info.value)


async def test_a_create_whose_keys_cannot_be_listed_is_unknown(
    sim: SimControl, account: SeededMaster
) -> None:
    sim.fault(CREATE, drop_after_action=True)
    sim.fault(LIST, http_status=500, count=None)
    async with make_client(sim, account, max_retries=1) as client:
        with pytest.raises(CreateOutcomeLost) as info:
            await mint_key(client, account.subaccounts[0], "lease-42")
    assert info.value.outcome is CreateOutcome.UNKNOWN
    assert info.value.api_key is None


async def test_a_dropped_delete_is_retried_and_counts_as_done(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sub = account.subaccounts[0]
    created = await mint_key(client, sub, "d")
    sim.fault(DELETE, drop_after_action=True)

    await client.delete_sub_api_key(created.api_key)

    assert keys_of(sim, sub) == []
    assert [e["retCode"] for e in sim.requests(DELETE)][-1] == 10001


async def test_a_dropped_sub_member_delete_counts_as_done(
    client: BybitClient, sim: SimControl, account: SeededMaster
) -> None:
    sim.fault("/v5/user/del-submember", drop_after_action=True)
    await client.delete_sub_member(account.subaccounts[0])
    assert account.subaccounts[0] not in {m.uid for m in await client.list_sub_members()}


async def test_a_dropped_sub_member_create_is_found_by_username(
    client: BybitClient, sim: SimControl
) -> None:
    sim.fault("/v5/user/create-sub-member", drop_after_action=True)
    member = await client.create_sub_member("lostbot01")
    assert member.username == "lostbot01"
    assert len(sim.requests("/v5/user/create-sub-member")) == 1
