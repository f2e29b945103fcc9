"""Token accessors as lease answers show them: HMAC-SHA256 under a key of this deployment, as
Vault's audit log shows them. Anyone with `read` on leases sees whose token minted a lease (the
same caller, the same hash) but cannot use or look up another caller's token by its accessor.

The key is created once, check-and-set, in `config/accessor-hmac`, so every replica hashes
alike."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keymint.engine.ports import KV
from keymint.engine.records import with_cas_retry

KEY_PATH = "config/accessor-hmac"


class AccessorHash:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, accessor: str) -> str:
        if not accessor:
            return ""
        return "hmac-sha256:" + hmac.new(self._key, accessor.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "AccessorHash()"


async def load_accessor_hash(kv: KV) -> AccessorHash:
    """The deployment's key, made by whichever replica starts first (a replica that loses the
    create reads the winner's)."""

    async def attempt() -> AccessorHash:
        found = await kv.read(KEY_PATH)
        if found is not None:
            return AccessorHash(bytes.fromhex(str(found.data["key"])))
        key = secrets.token_hex(32)
        await kv.write(KEY_PATH, {"key": key}, cas=0)
        return AccessorHash(bytes.fromhex(key))

    return await with_cas_retry(attempt, what=f"creating {KEY_PATH}")
