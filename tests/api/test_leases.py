"""Lease listing, lookup and revocation, including Bybit failing mid-revoke."""

from __future__ import annotations

import pytest

from stackkit import ADMIN_RULES, BOT_RULES, MakeStack, Stack


def test_listing_pages_and_filters_by_role(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    spot = {stack.call("POST", "/v1/creds/spot-trader", admin).json()["lease_id"] for _ in range(3)}
    monitor = stack.call("POST", "/v1/creds/monitor", admin).json()["lease_id"]

    first = stack.call("GET", "/v1/leases?limit=2", admin).json()["data"]
    assert len(first["keys"]) == 2 and first["next_cursor"] == first["keys"][-1]
    rest = stack.call("GET", f"/v1/leases?limit=2&after={first['next_cursor']}", admin).json()
    assert rest["data"]["next_cursor"] is None
    assert set(first["keys"]) | set(rest["data"]["keys"]) == spot | {monitor}

    only_spot = stack.call("GET", "/v1/leases?role=spot-trader", admin).json()["data"]
    assert set(only_spot["keys"]) == spot
    info = only_spot["key_info"][next(iter(spot))]
    assert info["state"] == "active" and info["role"] == "spot-trader"
    assert "secret" not in str(only_spot)


def test_revoke_prefix_revokes_a_whole_role(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    for _ in range(2):
        stack.call("POST", "/v1/creds/spot-trader", admin)
    kept = stack.call("POST", "/v1/creds/monitor", admin).json()["data"]["api_key"]
    answer = stack.call("POST", "/v1/leases/revoke-prefix/spot-trader", admin)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]["revoked"]) == 2
    assert [k["apiKey"] for k in stack.keys_at_bybit()] == [kept]


def test_revoke_when_bybit_fails_keeps_the_lease_revoking(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    minted = stack.call("POST", "/v1/creds/monitor", admin).json()
    stack.sim.fault("/v5/user/delete-sub-api", http_status=503, count=None)
    answer = stack.call("DELETE", f"/v1/leases/{minted['lease_id']}", admin)
    assert answer.status_code == 202, answer.text
    assert answer.json()["data"]["lease"]["state"] == "revoking"
    assert "retried" in answer.json()["warnings"][0]
    # The key is still live, so the lease must still exist.
    assert len(stack.keys_at_bybit()) == 1
    lease = stack.call("GET", f"/v1/leases/{minted['lease_id']}", admin).json()["data"]
    assert lease["state"] == "revoking" and lease["revoke_attempts"] == 1
    renew = stack.call("POST", f"/v1/leases/{minted['lease_id']}/renew", admin)
    assert renew.status_code == 400

    stack.sim.clear_faults()
    assert stack.call("DELETE", f"/v1/leases/{minted['lease_id']}", admin).status_code == 200
    assert stack.keys_at_bybit() == []


def test_unknown_lease_is_404_and_a_malformed_one_400(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    unknown = f"keymint/creds/monitor/{stack.master.subaccounts[0]}-{'a' * 24}"
    assert stack.call("GET", f"/v1/leases/{unknown}", admin).status_code == 404
    for malformed in ("keymint/creds/monitor/nope", "not-a-lease"):
        answer = stack.call("GET", f"/v1/leases/{malformed}", admin)
        assert answer.status_code == 400
        assert answer.json()["errors"][0].startswith("lease_id: not a keymint lease id")


def test_put_writes_wherever_post_does_as_the_vault_cli_sends_it(stack: Stack) -> None:
    # `bao write` and hvac send PUT for writes; Vault accepts both methods.
    admin = stack.token(ADMIN_RULES)
    minted = stack.call("PUT", "/v1/creds/spot-trader", admin, json={"ttl": "10m"})
    assert minted.status_code == 200, minted.text
    lease_id = minted.json()["lease_id"]
    renewed = stack.call("PUT", f"/v1/leases/{lease_id}/renew", admin, json={"increment": 60})
    assert renewed.status_code == 200, renewed.text
    assert stack.call("PUT", "/v1/reconcile", admin).status_code == 200
    revoked = stack.call("PUT", "/v1/leases/revoke-prefix/spot-trader", admin)
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked"] == [lease_id]
    assert stack.keys_at_bybit() == []


def test_booleans_are_not_durations_and_a_zero_increment_means_the_default(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    for body in ({"ttl": True}, {"wrap_ttl": False}):
        refused = stack.call("POST", "/v1/creds/spot-trader", admin, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert next(iter(body)) in refused.json()["errors"][0]
    assert stack.keys_at_bybit() == []
    lease_id = stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": 60}).json()[
        "lease_id"
    ]
    # As in Vault, an increment of 0 asks for the default (the role's ttl), not expiry now.
    renewed = stack.call("POST", f"/v1/leases/{lease_id}/renew", admin, json={"increment": 0})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["lease_duration"] == pytest.approx(3600, abs=5)


def test_lease_answers_show_token_accessors_only_as_hmacs(make_stack: MakeStack) -> None:
    stack = make_stack()
    bot = stack.token(BOT_RULES)
    accessor = stack.vault.auth.token.lookup(bot)["data"]["accessor"]
    leases = [stack.call("POST", "/v1/creds/spot-trader", bot).json()["lease_id"] for _ in range(2)]
    reader = stack.token(ADMIN_RULES)
    shown = {
        stack.call("GET", f"/v1/leases/{lease}", reader).json()["data"]["caller"]["accessor"]
        for lease in leases
    }
    listed = stack.call("GET", "/v1/leases", reader).text
    assert accessor not in listed
    # One caller, one hash; every replica hashes alike (the key is the deployment's, in Vault).
    (hashed,) = shown
    assert hashed.startswith("hmac-sha256:") and accessor not in hashed
    replica = make_stack(same_as=stack)
    again = replica.call("GET", f"/v1/leases/{leases[0]}", reader).json()["data"]["caller"]
    assert again["accessor"] == hashed
