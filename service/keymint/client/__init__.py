"""keymint's client for bots: a Bybit key on a lease that renews and rotates itself.

    from keymint.client import Keymint
    from keymint.client.pybit import pybit_session

    # KEYMINT_ADDR and VAULT_TOKEN (or VAULT_TOKEN_FILE) from the environment.
    with Keymint() as keymint, keymint.mint("spot-trader", ttl="1h", instance_id="bot-1") as lease:
        session = pybit_session(lease, "testnet")  # pybit HTTP; its key follows rotations
        print(session.get_wallet_balance(accountType="UNIFIED"))
        ...  # trade; the lease renews in the background and is replaced before max_ttl
    # leaving the block revokes the key at Bybit

asyncio bots use `AsyncKeymint` and `async with`. Logins: `approle_login(...)`,
`kubernetes_login(...)`. Importing this package loads httpx and nothing of keymint's server.
"""

from keymint.client.aio import AsyncKeymint, AsyncLease
from keymint.client.auth import (
    StaticToken,
    TokenFile,
    TokenSource,
    VaultLogin,
    approle_login,
    kubernetes_login,
    token_from_env,
)
from keymint.client.errors import (
    BadRequest,
    CapacityExhausted,
    Conflict,
    Forbidden,
    IdempotencyConflict,
    KeymintError,
    LeaseNotFound,
    NotFound,
    RoleNotFound,
    Unauthenticated,
    Unavailable,
    UpstreamError,
    VaultLoginFailed,
)
from keymint.client.protocol import Credentials, RetryPolicy
from keymint.client.sync import Keymint, Lease

__all__ = [
    "AsyncKeymint",
    "AsyncLease",
    "BadRequest",
    "CapacityExhausted",
    "Conflict",
    "Credentials",
    "Forbidden",
    "IdempotencyConflict",
    "Keymint",
    "KeymintError",
    "Lease",
    "LeaseNotFound",
    "NotFound",
    "RetryPolicy",
    "RoleNotFound",
    "StaticToken",
    "TokenFile",
    "TokenSource",
    "Unauthenticated",
    "Unavailable",
    "UpstreamError",
    "VaultLogin",
    "VaultLoginFailed",
    "approle_login",
    "kubernetes_login",
    "token_from_env",
]
