"""keymint against an OpenBao initialised as in production (raft storage, `bao operator init`),
not the dev server the rest of the suite uses."""

from __future__ import annotations

from pathlib import Path

import hvac

from keymint.devstack import OpenBaoCluster, start_openbao_raft
from stackkit import BOT_RULES, MakeStack, needs_the_bao_binary


def test_keymint_starts_and_mints_with_the_root_token_that_init_printed(
    openbao_raft: OpenBaoCluster, make_stack: MakeStack
) -> None:
    [node] = openbao_raft.nodes
    lookup = hvac.Client(url=node.url, token=openbao_raft.root_token).auth.token.lookup_self()
    # What makes this token different from a dev server's: no `renewable` in its lookup.
    assert "renewable" not in lookup["data"]

    stack = make_stack(vault=node)

    assert stack.call("GET", "/v1/sys/health").status_code == 200
    minted = stack.call("POST", "/v1/creds/spot-trader", stack.token(BOT_RULES))
    assert minted.status_code == 200, minted.text


def test_a_raft_server_keeps_its_data_across_a_kill_and_restart(tmp_path: Path) -> None:
    needs_the_bao_binary()
    cluster = start_openbao_raft(tmp_path)
    try:
        [node] = cluster.nodes
        root = hvac.Client(url=node.url, token=cluster.root_token)
        root.secrets.kv.v2.create_or_update_secret(path="kept", secret={"x": "1"})

        cluster.kill(node)
        cluster.restart(node)

        assert cluster.wait_until_settled() is node
        read = root.secrets.kv.v2.read_secret_version(path="kept", raise_on_deleted_version=True)
        assert read["data"]["data"] == {"x": "1"}
    finally:
        cluster.stop()
