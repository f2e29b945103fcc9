"""Whether a caller's token still lives, asked by its accessor with keymint's own token: how
keymint learns that a token which minted leases was revoked or has expired."""

from __future__ import annotations

import hvac.exceptions as hvac_errors

from keymint.vault.auth import VaultSession
from keymint.vault.endpoint import OperationHook, call, no_hook

# What Vault answers for an accessor it does not know: its token was revoked, expired or never
# was. Anything else (keymint's own token refused, an outage) says nothing about the token.
_GONE = "invalid accessor"


class TokenAccessors:
    """The engine's `Tokens` port, on `auth/token/lookup-accessor` (one call per accessor)."""

    def __init__(self, session: VaultSession, *, hook: OperationHook = no_hook) -> None:
        self._session = session
        self._hook = hook

    async def token_alive(self, accessor: str) -> bool:
        client = self._session.client

        def lookup() -> bool:
            try:
                client.auth.token.lookup_accessor(accessor)
            except (hvac_errors.InvalidRequest, hvac_errors.Forbidden) as exc:
                if any(_GONE in str(error) for error in exc.errors or ()):
                    return False
                raise
            return True

        return await call(
            lookup,
            op="token.lookup_accessor",
            target="auth/token/lookup-accessor",
            hook=self._hook,
        )
