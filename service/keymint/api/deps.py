"""Shared route dependencies: the service each route calls, and authorisation of the caller by
Vault policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Request
from fastapi import Path as PathParam
from pydantic import StrictInt, StrictStr, WithJsonSchema

from keymint.engine.caller import Caller
from keymint.engine.config import EngineConfigStore
from keymint.engine.durations import DURATION_SCHEMA, format_duration, parse_duration
from keymint.engine.dynamic.lease import (
    LEASE_ID_FORM,
    LEASE_PREFIX_FORM,
    parse_lease_id,
    parse_lease_prefix,
)
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.minting import Minting
from keymint.engine.dynamic.role_admin import Roles
from keymint.engine.keys.capacity import CapacityView
from keymint.engine.reconcile.reconciler import Reconciler
from keymint.engine.static.admin import StaticRoles
from keymint.engine.templates import NAME_RULE, ROLE_NAME
from keymint.errors import BadRequest, KeymintError
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
# A duration in a body: checked by `duration_field`, whose messages name the field; a boolean
# (JSON's `true` is not 1 second) or a float is refused by type.
Duration = Annotated[StrictInt | StrictStr, WithJsonSchema(DURATION_SCHEMA)]
# What the OpenAPI document shows; `path_problem` enforces it, after the token is checked.
RoleName = Annotated[str, PathParam(pattern=ROLE_NAME.pattern, description=NAME_RULE)]
LEASE_ID_PATTERN = r"^keymint/creds/[a-z0-9][a-z0-9_-]{0,62}/[1-9][0-9]{0,18}-[A-Za-z0-9]{24}$"
LeaseId = Annotated[
    str, PathParam(pattern=LEASE_ID_PATTERN, description=f"A lease id, {LEASE_ID_FORM}")
]


def path_problem(params: Mapping[str, Any]) -> str | None:
    """What is wrong with a route's names, by the one grammar every name and lease id follows:
    nothing that breaks it may reach a Vault path."""
    for field in ("name", "role"):
        if field in params and not ROLE_NAME.fullmatch(str(params[field])):
            return f"{field}: {NAME_RULE}"
    if "lease_id" in params and parse_lease_id(str(params["lease_id"])) is None:
        return f"lease_id: not a keymint lease id ({LEASE_ID_FORM})"
    if "prefix" in params and parse_lease_prefix(str(params["prefix"])) is None:
        return f"prefix: not a keymint lease prefix ({LEASE_PREFIX_FORM})"
    return None


async def authorize(
    request: Request,
    path: str | Callable[[Mapping[str, Any]], str],
    check: Callable[[Authorizer, str | None, str], Awaitable[CallerIdentity]],
    capability: str,
    x_vault_token: str | None,
    authorization: str | None,
    params: Mapping[str, Any] | None = None,
) -> Caller:
    """The caller, once `check` passed on the policy path; a malformed name is refused only
    after the token is known to be valid, so a stranger learns nothing from it. The names are
    the route's path parameters unless `params` gives them (from a body)."""
    authorizer = services(request).authorizer
    token = caller_token(x_vault_token=x_vault_token, authorization=authorization)
    params = request.path_params if params is None else params
    problem = path_problem(params)
    fields: dict[str, Any] = {"capability": capability}
    try:
        if problem is not None:
            fields["path"] = request.url.path
            await authorizer.authenticate(token)
            raise BadRequest(problem)
        policy_path = path.format(**params) if isinstance(path, str) else path(params)
        fields["path"] = policy_path
        identity = await check(authorizer, token, policy_path)
    except KeymintError as exc:
        # Only a refusal is an audit event. Vault failing to answer refuses too (fail closed)
        # but says nothing about the caller: an operational warning.
        fields |= {"status": exc.status_code, "reason": exc.message}
        if exc.status_code in (401, 403):
            log.warning("authorization_denied", audit=True, **fields)
        elif exc.status_code >= 500:
            log.warning("authorization_unavailable", **fields)
        raise
    caller = to_caller(identity)
    request.state.caller = caller
    return caller


def require_write(
    path: str, exists: Callable[[Services, str], Awaitable[bool]]
) -> Callable[..., Awaitable[Caller]]:
    """A dependency: like Vault, creating needs `create` and changing needs `update` on the
    path (a template of the route's `name`); whether `name` exists is read only for a caller
    whose token is valid and holds one of them."""

    async def dependency(
        request: Request,
        x_vault_token: XVaultToken = None,
        authorization: AuthorizationHeader = None,
    ) -> Caller:
        name = str(request.path_params["name"])

        async def check(
            authorizer: Authorizer, token: str | None, policy_path: str
        ) -> CallerIdentity:
            return await authorizer.authorize_write(
                token, policy_path, lambda: exists(services(request), name)
            )

        return await authorize(request, path, check, "create|update", x_vault_token, authorization)

    return dependency


def require(
    capability: Capability,
    path: str | Callable[[Mapping[str, Any]], str],
    *,
    body_field: str | None = None,
) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller must hold `capability` on `<policy prefix>/<path>`, where the
    path is a template filled from the route's path parameters, or built from them; with
    `body_field`, from that field of the JSON body instead (`sys/leases/lookup` takes its
    lease id there), checked by the same grammar after the token."""

    async def check(authorizer: Authorizer, token: str | None, policy_path: str) -> CallerIdentity:
        return await authorizer.authorize(token, policy_path, capability)

    async def dependency(
        request: Request,
        x_vault_token: XVaultToken = None,
        authorization: AuthorizationHeader = None,
    ) -> Caller:
        params = (
            None if body_field is None else {body_field: await _body_field(request, body_field)}
        )
        return await authorize(
            request, path, check, capability, x_vault_token, authorization, params
        )

    return dependency


async def _body_field(request: Request, field: str) -> str:
    """A string field of the JSON body, or "" (which no grammar accepts) when there is none:
    the body model itself is validated by FastAPI after the dependencies."""
    try:
        body = await request.json()
    except ValueError:
        return ""
    value = body.get(field) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def lease_policy_path(params: Mapping[str, Any]) -> str:
    """`leases/<role>/<key>` for `keymint/creds/<role>/<key>`: a bot's policy can grant renew
    and revoke on its own role's leases with `keymint/leases/<role>/*`."""
    ref = parse_lease_id(str(params["lease_id"]))
    assert ref is not None, "checked by path_problem"
    return f"leases/{ref.role}/{ref.uid}-{ref.key}"


def duration_field(
    value: int | str | None, field: str, *, at_most: int | None = None
) -> int | None:
    """A request's optional Vault duration in seconds; a malformed one, or one over `at_most`,
    is a 400 naming it."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value, field=field)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if at_most is not None and seconds > at_most:
        raise BadRequest(
            f"{field}: {format_duration(seconds)} is over the system maximum of "
            f"{format_duration(at_most)} (KEYMINT_MAX_LEASE_TTL_S)"
        )
    return seconds


def to_caller(identity: CallerIdentity) -> Caller:
    return Caller(
        entity_id=identity.entity_id,
        display_name=identity.display_name,
        policies=list(identity.policies),
        accessor=identity.accessor,
    )
