"""Authorising API callers by Vault policy, asked with the caller's own token.

An API path `creds/spot-trader` is checked as the policy path `<policy_prefix>/creds/spot-trader`
through `sys/capabilities-self`, so operators grant keymint access in ordinary Vault policies.
Every failure to ask is a refusal. Decisions are cached for `cache_ttl_s` under the token's
SHA-256, never the token; a revoked token can therefore keep working for at most that long.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import hvac

from keymint.errors import PermissionDenied, Unauthenticated
from keymint.vault.endpoint import OperationHook, VaultEndpoint, call, no_hook

Capability = Literal["create", "read", "update", "patch", "delete", "list", "sudo"]

# Visible ASCII only: anything else cannot be a Vault token and must not reach an HTTP header.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]{1,4096}")
# How long a token's identity (lookup-self) is reused; every decision still asks Vault, with
# the token, about the path (capabilities-self), which fails once the token is revoked.
IDENTITY_TTL_S = 60.0
_INVALID_TOKEN = "the Vault token is invalid, expired, revoked or lacks the default policy"


@dataclass(frozen=True)
class CallerIdentity:
    entity_id: str
    display_name: str
    policies: tuple[str, ...]
    accessor: str


_Grants = tuple[CallerIdentity, frozenset[str]]


def caller_token(*, x_vault_token: str | None, authorization: str | None) -> str | None:
    """The token from `X-Vault-Token`, else from `Authorization: Bearer`."""
    if x_vault_token:
        return x_vault_token
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


class Authorizer:
    """Decides whether a caller's token may act on a keymint API path."""

    def __init__(
        self,
        endpoint: VaultEndpoint,
        *,
        policy_prefix: str = "keymint",
        cache_ttl_s: float = 5.0,
        cache_size: int = 4096,
        hook: OperationHook = no_hook,
    ) -> None:
        self._endpoint = endpoint
        self._prefix = policy_prefix.strip("/")
        self._cache_ttl_s = cache_ttl_s
        self._cache_size = cache_size
        self._hook = hook
        # Per token digest and policy path: who the caller is and what it may do there, or
        # why its token was refused.
        self._cache: dict[tuple[str, str], tuple[float, _Grants | str]] = {}
        # Who a token is does not change while it lives; whether it still lives is asked with
        # every capabilities-self, so a new path costs one Vault call, not two.
        self._identities: dict[str, tuple[float, CallerIdentity]] = {}

    async def authorize(
        self, token: str | None, path: str, capability: Capability
    ) -> CallerIdentity:
        """Who the caller is, if its token grants `capability` on `path`; raises otherwise."""
        identity, granted, policy_path = await self._grants(token, path)
        if not _allows(granted, capability):
            raise PermissionDenied(
                f"permission denied: {capability!r} on {policy_path!r} is required"
            )
        return identity

    async def authorize_write(
        self, token: str | None, path: str, exists: Callable[[], Awaitable[bool]]
    ) -> CallerIdentity:
        """Like Vault, creating needs `create` and changing needs `update` on `path`; whether
        the target exists is asked only of a caller who holds exactly one of them."""
        identity, granted, policy_path = await self._grants(token, path)
        create, update = _allows(granted, "create"), _allows(granted, "update")
        if create and update:
            return identity
        if not create and not update:
            raise PermissionDenied(
                f"permission denied: 'create' or 'update' on {policy_path!r} is required"
            )
        needed = "update" if await exists() else "create"
        if not _allows(granted, needed):
            raise PermissionDenied(f"permission denied: {needed!r} on {policy_path!r} is required")
        return identity

    async def authenticate(self, token: str | None) -> CallerIdentity:
        """Who the caller is, whatever it may do: for refusing a malformed request only after
        its token has been checked."""
        token, digest = _require_token(token)
        known = self._identities.get(digest)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        if not _TOKEN_SHAPE.fullmatch(token):
            raise PermissionDenied(_INVALID_TOKEN)
        lookup = await self._lookup(self._endpoint.client(token))
        identity = _identity(lookup["data"])
        self._remember_identity(digest, identity)
        return identity

    async def _grants(
        self, token: str | None, path: str
    ) -> tuple[CallerIdentity, frozenset[str], str]:
        token, digest = _require_token(token)
        policy_path = f"{self._prefix}/{path.strip('/')}"
        key = (digest, policy_path)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            outcome = cached[1]
        else:
            try:
                outcome = await self._decide(token, digest, policy_path)
            except PermissionDenied as exc:
                outcome = exc.message
            self._remember(key, outcome)
        if isinstance(outcome, str):
            raise PermissionDenied(outcome)
        return outcome[0], outcome[1], policy_path

    async def _decide(
        self, token: str, digest: str, policy_path: str
    ) -> tuple[CallerIdentity, frozenset[str]] | str:
        if not _TOKEN_SHAPE.fullmatch(token):
            return _INVALID_TOKEN
        client = self._endpoint.client(token)

        async def capabilities() -> Any:
            return await self._ask(
                lambda: client.adapter.post(
                    "/v1/sys/capabilities-self", json={"paths": [policy_path]}
                ),
                "authz.capabilities",
                policy_path,
            )

        known = self._identities.get(digest)
        if known is not None and known[0] > time.monotonic():
            identity, caps = known[1], await capabilities()
        else:
            # Independent questions: asked together, a decision costs one round trip.
            lookup, caps = await asyncio.gather(self._lookup(client), capabilities())
            identity = _identity(lookup["data"])
            self._remember_identity(digest, identity)
        return identity, frozenset(caps["data"].get(policy_path, []))

    async def _lookup(self, client: hvac.Client) -> Any:
        return await self._ask(
            client.auth.token.lookup_self, "authz.lookup_self", "auth/token/lookup-self"
        )

    def _remember_identity(self, digest: str, identity: CallerIdentity) -> None:
        now = time.monotonic()
        if len(self._identities) >= self._cache_size:
            self._identities = {k: v for k, v in self._identities.items() if v[0] > now}
        while len(self._identities) >= self._cache_size:
            del self._identities[next(iter(self._identities))]
        self._identities[digest] = (now + IDENTITY_TTL_S, identity)

    async def _ask(self, fn: Callable[[], Any], op: str, target: str) -> Any:
        return await call(
            fn,
            op=op,
            target=target,
            hook=self._hook,
            denied=_invalid_token,
        )

    def _remember(self, key: tuple[str, str], outcome: _Grants | str) -> None:
        if self._cache_ttl_s <= 0:
            return
        now = time.monotonic()
        if len(self._cache) >= self._cache_size:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        while len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (now + self._cache_ttl_s, outcome)


def _identity(data: dict[str, Any]) -> CallerIdentity:
    return CallerIdentity(
        entity_id=str(data.get("entity_id") or ""),
        display_name=str(data.get("display_name") or ""),
        policies=tuple(data.get("policies") or ()),
        accessor=str(data.get("accessor") or ""),
    )


def _invalid_token() -> PermissionDenied:
    return PermissionDenied(_INVALID_TOKEN)


def _allows(granted: frozenset[str], capability: str) -> bool:
    return capability in granted or "root" in granted


def _require_token(token: str | None) -> tuple[str, str]:
    """The token and its digest, the only form of it keymint keeps."""
    if not token:
        raise Unauthenticated("a Vault token is required (X-Vault-Token or Authorization: Bearer)")
    return token, hashlib.sha256(token.encode()).hexdigest()
