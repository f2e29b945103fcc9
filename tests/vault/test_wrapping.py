"""Response wrapping: the recipient can unwrap once, and only once."""

from __future__ import annotations

import hvac.exceptions
import pytest

from keymint.vault import VaultEndpoint, wrap


async def test_a_wrapped_secret_unwraps_once(endpoint: VaultEndpoint, keymint_token: str) -> None:
    secret = {"api_key": "k-123", "api_secret": "s-456"}
    info = await wrap(endpoint.client(keymint_token), secret, ttl_s=60)
    assert 0 < info.ttl_s <= 60
    assert info.creation_path == "sys/wrapping/wrap"
    assert info.accessor and info.creation_time
    assert info.token not in repr(info)

    # The recipient holds nothing but the wrapping token.
    recipient = endpoint.client(info.token)
    assert recipient.sys.unwrap()["data"] == secret
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not valid or does not exist"):
        recipient.sys.unwrap()
