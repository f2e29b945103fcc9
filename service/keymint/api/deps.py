"""Shared route dependencies: the service each route calls, and authorisation of the caller by
Vault policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Request

from keymint.engine.caller import Caller
from keymint.engine.config import EngineConfigStore
from keymint.engine.durations import parse_duration
from keymint.engine.dynamic.lease import parse_lease_id
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.minting import Minting
from keymint.engine.dynamic.role_admin import Roles
from keymint.engine.keys.capacity import CapacityView
from keymint.engine.reconcile.reconciler import Reconciler
from keymint.engine.static.admin import StaticRoles
from keymint.errors import BadRequest, KeymintError, NotFound
from keymint.vault import Authorizer, CallerIdentity, Capability, caller_token
from keymint.wiring import Services

log = structlog.get_logger(__name__)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _minting(request: Request) -> Minting:
    return services(request).minting


def _leases(request: Request) -> LeaseService:
    return services(request).leases


def _roles(request: Request) -> Roles:
    return services(request).roles


def _static(request: Request) -> StaticRoles:
    return services(request).static


def _reconciler(request: Request) -> Reconciler:
    return services(request).reconciler


def _capacity(request: Request) -> CapacityView:
    return services(request).capacity


def _config(request: Request) -> EngineConfigStore:
    return services(request).config


ServicesDep = Annotated[Services, Depends(services)]
MintingDep = Annotated[Minting, Depends(_minting)]
LeasesDep = Annotated[LeaseService, Depends(_leases)]
RolesDep = Annotated[Roles, Depends(_roles)]
StaticRolesDep = Annotated[StaticRoles, Depends(_static)]
ReconcilerDep = Annotated[Reconciler, Depends(_reconciler)]
CapacityDep = Annotated[CapacityView, Depends(_capacity)]
ConfigDep = Annotated[EngineConfigStore, Depends(_config)]
XVaultToken = Annotated[
    str | None,
    Header(description="The caller's Vault token (or send `Authorization: Bearer <token>`)"),
]
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


async def authorize(
    request: Request,
    authorizer: Authorizer,
    capability: Capability,
    path: str,
    x_vault_token: str | None,
    authorization: str | None,
) -> Caller:
    token = caller_token(x_vault_token=x_vault_token, authorization=authorization)
    try:
        identity = await authorizer.authorize(token, path, capability)
    except KeymintError as exc:
        # Only a refusal is an audit event; Vault failing to answer refuses too (fail
        # closed), but says nothing about the caller, so it is an operational warning.
        fields = {
            "path": path,
            "capability": capability,
            "status": exc.status_code,
            "reason": exc.message,
        }
        # Vault failing to answer refuses too (fail closed) but says nothing about the caller:
        # an operational warning, not an audit event.
        if exc.status_code in (401, 403):
            log.warning("authorization_denied", audit=True, **fields)
        else:
            log.warning("authorization_unavailable", **fields)
        raise
    caller = to_caller(identity)
    request.state.caller = caller
    return caller


async def authorize_write(
    request: Request,
    path: str,
    exists: Callable[[], Awaitable[bool]],
    x_vault_token: str | None,
    authorization: str | None,
) -> Caller:
    """Like Vault, creating needs `create` and changing needs `update` on `path`."""
    capability: Capability = "update" if await exists() else "create"
    return await authorize(
        request, services(request).authorizer, capability, path, x_vault_token, authorization
    )


def require(
    capability: Capability, path: str | Callable[[dict[str, Any]], str]
) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller must hold `capability` on `<policy prefix>/<path>`, where the
    path is a template filled from the route's path parameters, or built from them."""

    async def dependency(
        request: Request,
        found: ServicesDep,
        x_vault_token: XVaultToken = None,
        authorization: AuthorizationHeader = None,
    ) -> Caller:
        params = request.path_params
        policy_path = path.format(**params) if isinstance(path, str) else path(params)
        return await authorize(
            request, found.authorizer, capability, policy_path, x_vault_token, authorization
        )

    return dependency


def lease_policy_path(params: dict[str, Any]) -> str:
    """`leases/<role>/<key>` for `keymint/creds/<role>/<key>`: a bot's policy can grant renew
    and revoke on its own role's leases with `keymint/leases/<role>/*`."""
    lease_id = str(params["lease_id"])
    ref = parse_lease_id(lease_id)
    if ref is None:
        raise NotFound(f"lease {lease_id!r} not found")
    return f"leases/{ref.role}/{ref.uid}-{ref.key}"


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
