"""Which keymint error each Vault failure becomes."""

from __future__ import annotations

import hvac.exceptions as hvac_errors
import pytest

from keymint.errors import KeymintError
from keymint.vault import CasConflict, VaultDenied, VaultRejected, VaultUnavailable
from keymint.vault.errors import translate


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            hvac_errors.InvalidRequest("check-and-set parameter did not match the current version"),
            CasConflict,
        ),
        (hvac_errors.InvalidRequest("error parsing check-and-set parameter"), VaultRejected),
        (hvac_errors.UnexpectedError("method not allowed"), VaultRejected),
        (hvac_errors.Forbidden("permission denied"), VaultDenied),
        (hvac_errors.VaultDown("Vault is sealed"), VaultUnavailable),
        (
            hvac_errors.RateLimitExceeded("request path: rate limit quota exceeded"),
            VaultUnavailable,
        ),
    ],
)
def test_only_the_check_and_set_mismatch_is_a_conflict(
    exc: hvac_errors.VaultError, expected: type[KeymintError]
) -> None:
    assert type(translate(exc, op="kv.write", target="keymint/roles/x")) is expected
