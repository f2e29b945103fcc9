"""Shared route dependencies: the backend, and authorisation of the caller by Vault policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Request

from keymint.backend import Backend
from keymint.engine.durations import parse_duration
from keymint.engine.leases import Caller, split_lease_id
from keymint.errors import BadRequest, KeymintError, NotFound
from keymint.vault import CallerIdentity, Capability, caller_token

log = structlog.get_logger(__name__)


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]
XVaultToken = Annotated[
    str | None,
    Header(description="The caller's Vault token (or send `Authorization: Bearer <token>`)"),
]
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


async def authorize(
    request: Request,
    backend: Backend,
    capability: Capability,
    path: str,
    x_vault_token: str | None,
    authorization: str | None,
) -> Caller:
    token = caller_token(x_vault_token=x_vault_token, authorization=authorization)
    try:
        identity = await backend.authorizer.authorize(token, path, capability)
    except KeymintError as exc:
        log.warning(
            "authorization_denied",
            audit=True,
            path=path,
            capability=capability,
            status=exc.status_code,
            reason=exc.message,
        )
        raise
    caller = to_caller(identity)
    request.state.caller = caller
    return caller


async def authorize_write(
    request: Request,
    backend: Backend,
    path: str,
    read: Callable[[], Awaitable[object]],
    x_vault_token: str | None,
    authorization: str | None,
) -> Caller:
    """Like Vault, creating needs `create` and changing needs `update` on `path`; `read`
    raises NotFound when the record does not exist yet."""
    capability: Capability = "update"
    try:
        await read()
    except NotFound:
        capability = "create"
    return await authorize(request, backend, capability, path, x_vault_token, authorization)


def require(
    capability: Capability, path: str | Callable[[dict[str, Any]], str]
) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller must hold `capability` on `<policy prefix>/<path>`, where the
    path is a template filled from the route's path parameters, or built from them."""

    async def dependency(
        request: Request,
        backend: BackendDep,
        x_vault_token: XVaultToken = None,
        authorization: AuthorizationHeader = None,
    ) -> Caller:
        params = request.path_params
        policy_path = path.format(**params) if isinstance(path, str) else path(params)
        return await authorize(
            request, backend, capability, policy_path, x_vault_token, authorization
        )

    return dependency


def lease_policy_path(params: dict[str, Any]) -> str:
    """`leases/<role>/<key>` for `keymint/creds/<role>/<key>`: a bot's policy can grant renew
    and revoke on its own role's leases with `keymint/leases/<role>/*`."""
    lease_id = str(params["lease_id"])
    parts = split_lease_id(lease_id)
    if parts is None:
        raise NotFound(f"lease {lease_id!r} not found")
    return f"leases/{parts[0]}/{parts[1]}"


def duration_field(value: int | str | None, field: str) -> int | None:
    """A request's optional Vault duration in seconds; a malformed one is a 400 naming it."""
    if value is None:
        return None
    try:
        return parse_duration(value, field=field)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def to_caller(identity: CallerIdentity) -> Caller:
    return Caller(
        entity_id=identity.entity_id,
        display_name=identity.display_name,
        policies=list(identity.policies),
        accessor=identity.accessor,
    )
