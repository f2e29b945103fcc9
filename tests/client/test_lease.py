"""A lease from the client renews itself, is replaced before max_ttl and revoked at close."""

from __future__ import annotations

import logging

import pytest

from client.support import api_keys_at_bybit, bot_rules, client_for, fast_roles
from keymint.client import Credentials, Keymint, StaticToken
from stackkit import MakeStack, roles_of, wait_for


def test_a_lease_renews_itself_and_close_revokes_the_key(make_stack: MakeStack) -> None:
    stack = make_stack(roles=roles_of(fast={"ttl": 2, "max_ttl": 600}))
    with client_for(stack) as keymint:
        lease = keymint.mint("fast", ttl=2, instance_id="bot-1")
        key = lease.credentials.api_key
        assert key in api_keys_at_bybit(stack)
        # Renewed twice: the 2 s lease has outlived its first TTL by renewals alone.
        wait_for(lambda: (keymint.lookup(lease.lease_id)["last_renewal"] or "") != "", 10)
        first = keymint.lookup(lease.lease_id)["last_renewal"]
        wait_for(lambda: keymint.lookup(lease.lease_id)["last_renewal"] != first, 10)
        assert lease.rotations == 0 and lease.last_error is None
        lease.close()
        assert key not in api_keys_at_bybit(stack)


def test_before_max_ttl_the_replacement_comes_first_then_the_old_key_goes(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(roles=fast_roles())
    rotated: list[Credentials] = []
    with (
        client_for(stack) as keymint,
        keymint.mint("fast", on_rotate=rotated.append, grace_s=1.0) as lease,
    ):
        old = lease.credentials
        wait_for(lambda: len(rotated) == 1, 15)
        new = rotated[0]
        assert lease.credentials == new and new.api_key != old.api_key
        # Both keys work during the grace; then the old one is deleted at Bybit.
        wait_for(lambda: old.api_key not in api_keys_at_bybit(stack), 10)
        assert new.api_key in api_keys_at_bybit(stack)
        # Closing revokes every key the lease held (a 202 is a deletion keymint still retries).
        held = {new.api_key, lease.credentials.api_key}
        wait_for(lambda: not held & api_keys_at_bybit(stack), 15)


def test_a_lease_revoked_underneath_is_replaced(make_stack: MakeStack) -> None:
    stack = make_stack(roles=roles_of(fast={"ttl": 2, "max_ttl": 600}))
    rotated: list[Credentials] = []
    with client_for(stack) as keymint, keymint.mint("fast", on_rotate=rotated.append) as lease:
        gone = lease.lease_id
        assert keymint.revoke(gone)
        wait_for(lambda: len(rotated) == 1, 10)
        assert lease.lease_id != gone
        assert lease.credentials.api_key in api_keys_at_bybit(stack)


def test_a_retried_mint_with_the_same_idempotency_key_is_the_same_lease(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(roles=fast_roles())
    with (
        client_for(stack) as keymint,
        keymint.mint("fast", idempotency_key="boot-7", instance_id="bot-7") as first,
    ):
        again = keymint.mint("fast", idempotency_key="boot-7", instance_id="bot-7")
        assert again.lease_id == first.lease_id
        assert again.credentials == first.credentials
        again.close()


def test_a_full_pool_is_waited_out_by_retry_after(
    make_stack: MakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack(
        subaccount_key_limit=1,
        expiry_interval_s=0.5,
        roles=roles_of(solo={"pool": 1, "ttl": 2, "max_ttl": 60}),
    )
    admin = stack.token(bot_rules("solo"))
    assert stack.call("POST", "/v1/creds/solo", admin, json={"ttl": 1}).status_code == 200
    caplog.set_level(logging.INFO, logger="keymint.client")
    with client_for(stack, "solo") as keymint, keymint.mint("solo") as lease:
        assert lease.credentials.api_key in api_keys_at_bybit(stack)
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries and "HTTP 429" in retries[0]


def test_a_wrapped_answer_is_unwrapped_at_vault(make_stack: MakeStack) -> None:
    stack = make_stack(roles=fast_roles())
    token = StaticToken(stack.token(bot_rules("fast")))
    with (
        Keymint(stack.url, token=token, vault_addr=stack.vault.url) as keymint,
        keymint.mint("fast", wrap_ttl=60) as lease,
    ):
        assert lease.credentials.api_key in api_keys_at_bybit(stack)
        assert keymint.lookup(lease.lease_id)["api_key"] == lease.credentials.api_key
