"""keymint against a 3-node OpenBao raft cluster, given every node's address, as Vault users
run it: it follows the active node, never acts on a standby's answer, and fails closed (503)
while no node is active."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from keymint.devstack import OpenBaoCluster, start_openbao_raft
from keymint.vault import KvStore, VaultEndpoint, VaultUnavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoCluster]:
    cluster = start_openbao_raft(tmp_path_factory.mktemp("bao-ha"), nodes=3)
    yield cluster
    cluster.stop()


@pytest.fixture
async def standby_first(cluster: OpenBaoCluster) -> AsyncIterator[VaultEndpoint]:
    # A standby first: whoever reads the list in order lands on one.
    active = cluster.wait_until_settled()
    standbys = [n.url for n in cluster.nodes if n is not active]
    ep = VaultEndpoint(",".join([*standbys, active.url]))
    yield ep
    ep.close()


async def test_every_write_reads_back_at_once_though_a_standby_is_listed_first(
    cluster: OpenBaoCluster, standby_first: VaultEndpoint
) -> None:
    kv = KvStore(standby_first.client(cluster.root_token), prefix="ha-read-your-writes")
    version = 0
    for i in range(30):
        version = await kv.write("record", {"i": i}, cas=version)
        # An OpenBao 2.7 standby answers reads from its own lagging copy: the write it just
        # forwarded would read as the previous version, or as absent.
        read = await kv.read("record")
        assert read is not None and read.data == {"i": i} and read.version == version


async def test_with_no_active_node_every_call_fails_as_an_outage_and_then_recovers(
    cluster: OpenBaoCluster, standby_first: VaultEndpoint
) -> None:
    kv = KvStore(standby_first.client(cluster.root_token), prefix="ha-no-active")
    await kv.write("record", {"x": 1}, cas=0)
    active = cluster.wait_until_settled()
    gone = [active, next(n for n in cluster.nodes if n is not active)]
    for node in gone:
        cluster.kill(node)  # one voter of three left: no election can be won
    try:
        with pytest.raises(VaultUnavailable, match="no active node among 3 Vault addresses"):
            await kv.read("record")  # the standby left could answer it, from its own copy
    finally:
        for node in gone:
            cluster.restart(node)
    cluster.wait_until_settled()
    read = await kv.read("record")
    assert read is not None and read.data == {"x": 1}
