"""keymint against a 3-node OpenBao raft cluster, given every node's address, as Vault users
run it: it follows the active node, never acts on a standby's answer, and fails closed (503)
while no node is active."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from keymint.devstack import OpenBaoCluster, start_openbao_raft
from keymint.vault import KvStore, VaultEndpoint, VaultUnavailable
from reconcile.support import ledger, reconcile
from stackkit import ADMIN_RULES, BOT_RULES, MakeStack, Stack, needs_the_bao_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, home of bench/

from bench.failover import Answer, HealthWatch, MintLoops, drill

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoCluster]:
    needs_the_bao_binary()
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


def vault_shaped_503(answer: Answer) -> bool:
    errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
    return (
        answer.status == 503
        and isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, str) and e for e in errors)
    )


def keys_without_a_record(stack: Stack) -> list[str]:
    """Bybit keys of the stack's sub-accounts that no settled entry of a record names."""
    owned = set()
    for uid in stack.master.subaccounts:
        for raw in ledger(stack, uid)["keys"].values():
            entry = json.loads(raw)
            if entry["state"] != "minting":
                owned.add(entry["api_key"])
    return [k["apiKey"] for k in stack.keys_at_bybit() if k["apiKey"] not in owned]


@pytest.mark.timeout(300)
def test_minting_through_a_killed_then_a_sealed_active_node(
    cluster: OpenBaoCluster, make_stack: MakeStack
) -> None:
    active = cluster.wait_until_settled()
    stack = make_stack(
        vault=active,
        vault_addr=cluster.addr,
        scheduler_enabled=False,  # the one reconciliation below is the only clean-up
        reconcile_grace_s=0,
    )
    # The test's own Vault calls (tokens, records) follow the active node as keymint's do.
    following = VaultEndpoint(cluster.addr)
    stack.vault = following.client(cluster.root_token)
    admin = stack.token(ADMIN_RULES, ttl="1h")
    try:
        with (
            HealthWatch(cluster) as watch,
            MintLoops(stack.url, "spot-trader", stack.token(BOT_RULES, ttl="1h")) as bots,
        ):
            phases = drill(cluster, bots, watch)

        killed = phases[0]
        # Not vacuous: a killed active node leaves seconds without one. A sealed one may hand
        # over within milliseconds (calls it refused with 503 went on to its successor).
        assert killed.inside, "no mint lay wholly inside the outage"
        for phase in phases:
            assert [m for m in phase.inside if m.status == 200] == [], phase.how
        failed = [a for a in [*bots.mints, *bots.revokes] if a.status != 200]
        assert failed, "the outages failed no request"
        assert [a for a in failed if not vault_shaped_503(a)] == []

        report = reconcile(stack, token=admin)
        assert report["totals"]["failed_subaccounts"] == 0
        assert keys_without_a_record(stack) == []
    finally:
        following.close()
