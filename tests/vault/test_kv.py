"""KvStore against OpenBao: versions, check-and-set, listing and deleting."""

from __future__ import annotations

import asyncio
import time

import hvac
import pytest

from keymint.devstack import free_port
from keymint.vault import CasConflict, KvStore, VaultDenied, VaultEndpoint, VaultUnavailable
from keymint.vault.kv import TOMBSTONE

from .conftest import MakeToken


async def test_write_then_read_gives_data_and_version(kv: KvStore) -> None:
    assert await kv.write("roles/spot", {"ttl": 3600}, cas=0) == 1
    assert await kv.write("roles/spot", {"ttl": 600}, cas=1) == 2
    got = await kv.read("roles/spot")
    assert got is not None
    assert (got.data, got.version) == ({"ttl": 600}, 2)
    assert await kv.read("roles/absent") is None


async def test_create_only_refuses_an_existing_key(kv: KvStore) -> None:
    await kv.write("roles/spot", {"ttl": 1}, cas=0)
    with pytest.raises(CasConflict) as info:
        await kv.write("roles/spot", {"ttl": 2}, cas=0)
    assert info.value.status_code == 409
    assert (await kv.read("roles/spot")).data == {"ttl": 1}  # type: ignore[union-attr]


async def test_of_concurrent_writers_at_one_version_exactly_one_wins(kv: KvStore) -> None:
    await kv.write("leases/l1", {"state": "active"}, cas=0)
    results = await asyncio.gather(
        *(kv.write("leases/l1", {"state": f"writer-{i}"}, cas=1) for i in range(5)),
        return_exceptions=True,
    )
    winners = [i for i, r in enumerate(results) if r == 2]
    assert len(winners) == 1
    assert all(isinstance(r, CasConflict) for r in results if r != 2)
    got = await kv.read("leases/l1")
    assert got is not None and got.data == {"state": f"writer-{winners[0]}"}


async def test_list_names_keys_and_folders_and_an_empty_folder_is_empty(kv: KvStore) -> None:
    assert await kv.list("leases") == []
    assert await kv.list() == []
    await kv.write("leases/a", {}, cas=0)
    await kv.write("leases/b/c", {}, cas=0)
    assert await kv.list("leases") == ["a", "b/"]
    assert await kv.list() == ["leases/"]


async def test_delete_with_a_stale_version_is_refused(kv: KvStore) -> None:
    await kv.write("roles/spot", {"v": 1}, cas=0)
    await kv.write("roles/spot", {"v": 2}, cas=1)
    with pytest.raises(CasConflict):
        await kv.delete("roles/spot", cas=1)
    assert (await kv.read("roles/spot")).data == {"v": 2}  # type: ignore[union-attr]

    await kv.delete("roles/spot", cas=2)
    assert await kv.read("roles/spot") is None
    assert await kv.list("roles") == []
    assert await kv.write("roles/spot", {"v": "again"}, cas=0) == 1


async def test_delete_racing_a_writer_at_the_same_version_lets_one_through(kv: KvStore) -> None:
    await kv.write("roles/spot", {"v": 1}, cas=0)
    deleted, written = await asyncio.gather(
        kv.delete("roles/spot", cas=1),
        kv.write("roles/spot", {"v": 2}, cas=1),
        return_exceptions=True,
    )
    got = await kv.read("roles/spot")
    if isinstance(deleted, CasConflict):
        assert written == 2 and got is not None and got.data == {"v": 2}
    else:
        assert isinstance(written, CasConflict) and got is None


async def test_a_tombstone_left_by_a_crashed_delete_blocks_only_for_the_grace_period(
    kv: KvStore, root: hvac.Client, endpoint: VaultEndpoint, keymint_token: str, prefix: str
) -> None:
    await kv.write("roles/spot", {"v": 1}, cas=0)
    # What a delete that crashed before its second step leaves behind.
    root.secrets.kv.v2.create_or_update_secret(
        f"{prefix}/roles/spot", {TOMBSTONE: time.time()}, cas=1
    )
    assert await kv.read("roles/spot") is None
    with pytest.raises(CasConflict):
        await kv.write("roles/spot", {"v": "new"}, cas=0)

    impatient = KvStore(endpoint.client(keymint_token), prefix=prefix, tombstone_grace_s=0.0)
    assert await impatient.write("roles/spot", {"v": "new"}, cas=0) == 3


async def test_a_version_soft_deleted_by_an_operator_reads_absent_and_can_be_recreated(
    kv: KvStore, root: hvac.Client, prefix: str
) -> None:
    await kv.write("roles/spot", {"v": 1}, cas=0)
    root.secrets.kv.v2.delete_latest_version_of_secret(f"{prefix}/roles/spot")
    assert await kv.read("roles/spot") is None
    assert await kv.write("roles/spot", {"v": 2}, cas=0) == 2


@pytest.mark.parametrize("path", ["", "/", "a//b", "../config", "roles/./x"])
async def test_malformed_paths_are_refused_before_reaching_vault(kv: KvStore, path: str) -> None:
    with pytest.raises(ValueError, match="invalid KV path"):
        await kv.read(path)


async def test_every_operation_reports_its_duration_and_whether_vault_answered(
    endpoint: VaultEndpoint, keymint_token: str, prefix: str
) -> None:
    seen: list[tuple[str, float, bool]] = []
    kv = KvStore(
        endpoint.client(keymint_token),
        prefix=prefix,
        hook=lambda op, s, ok: seen.append((op, s, ok)),
    )
    await kv.write("x", {"a": 1}, cas=0)
    await kv.read("x")
    await kv.list()
    with pytest.raises(CasConflict):
        await kv.write("x", {"a": 2}, cas=5)
    await kv.delete("x", cas=1)
    down = KvStore(
        VaultEndpoint(f"http://127.0.0.1:{free_port()}").client(keymint_token),
        prefix=prefix,
        hook=lambda op, s, ok: seen.append((op, s, ok)),
    )
    with pytest.raises(VaultUnavailable):
        await down.read("x")
    # The flag feeds keymint_vault_up: a refusal such as a CAS conflict is Vault answering.
    assert [(op, ok) for op, _, ok in seen] == [
        ("kv.write", True),
        ("kv.read", True),
        ("kv.list", True),
        ("kv.write", True),
        ("kv.delete", True),
        ("kv.destroy", True),
        ("kv.read", False),
    ]
    assert all(s > 0 for _, s, _ in seen)


async def test_a_token_without_the_policy_gets_a_clear_deployment_error(
    endpoint: VaultEndpoint, make_token: MakeToken, prefix: str
) -> None:
    reader = make_token(f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}')
    kv = KvStore(endpoint.client(reader), prefix=prefix)
    with pytest.raises(VaultDenied) as info:
        await kv.write("roles/spot", {"v": 1}, cas=0)
    # keymint cannot work until its policy is fixed: unavailable, not an internal error.
    assert info.value.status_code == 503
    assert "keymint's own token" in info.value.message
    assert f"{prefix}/roles/spot" in info.value.message
