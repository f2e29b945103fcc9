"""The engine's `Bybit` port over `BybitClient`: Bybit's failures become the engine's at this
edge, and a delete is only ever reported done once a listing shows the key gone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from keymint.bybit.client import BybitClient
from keymint.bybit.errors import (
    AuthError,
    BybitError,
    CreateOutcome,
    CreateOutcomeLost,
    InvalidRequestError,
    IpNotAllowedError,
    KeyCapError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from keymint.bybit.models import ApiKeyInfo
from keymint.engine.ports import (
    BybitFailure,
    BybitRateLimited,
    BybitRefused,
    BybitUnreachable,
    CreatedKey,
    CreateLost,
    DeleteUnconfirmed,
    KeyCapSuspected,
    KeySpec,
    ListedKey,
    MasterKeyRefused,
)

T = TypeVar("T")
DELETE_SUB_API = "/v5/user/delete-sub-api"


def failure(exc: BybitError) -> BybitFailure:
    """The engine's view of a Bybit error. The message keeps the endpoint, retCode and Bybit's
    retMsg (the client never puts a request, a body or a secret in them)."""
    message = str(exc)
    if isinstance(exc, CreateOutcomeLost):
        gone = exc.outcome in (CreateOutcome.NOT_CREATED, CreateOutcome.DELETED)
        return CreateLost(message, key_may_exist=not gone)
    if isinstance(exc, KeyCapError):
        return KeyCapSuspected(message, ret_code=exc.ret_code)
    if isinstance(exc, AuthError | PermissionDeniedError | IpNotAllowedError):
        return MasterKeyRefused(f"{type(exc).__name__}: {message}", ret_code=exc.ret_code)
    if isinstance(exc, RateLimitError):
        return BybitRateLimited(message, ret_code=exc.ret_code)
    if isinstance(exc, NetworkError | ServerError):
        return BybitUnreachable(message, ret_code=exc.ret_code)
    return BybitRefused(message, ret_code=exc.ret_code)


async def translated(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except BybitError as exc:
        raise failure(exc) from None


def listed(key: ApiKeyInfo) -> ListedKey:
    return ListedKey(
        api_key=key.api_key,
        note=key.note,
        spec=KeySpec(permissions=dict(key.permissions), read_only=key.read_only, ips=list(key.ips)),
        created_at=key.created_at.timestamp() if key.created_at else None,
    )


class BybitPort:
    def __init__(self, client: BybitClient) -> None:
        self.client = client

    async def create_key(self, sub_uid: int, *, note: str, spec: KeySpec) -> CreatedKey:
        created = await translated(
            lambda: self.client.create_sub_api_key(
                sub_uid,
                note=note,
                permissions=spec.permissions,
                read_only=spec.read_only,
                ips=spec.ips,
            )
        )
        return CreatedKey(api_key=created.api_key, secret=created.secret)

    async def update_key(self, api_key: str, spec: KeySpec) -> None:
        await translated(
            lambda: self.client.update_sub_api_key(
                api_key, permissions=spec.permissions, read_only=spec.read_only, ips=spec.ips
            )
        )

    async def delete_key(self, api_key: str, sub_uid: int) -> None:
        """Delete, then list the sub-account to confirm. A refusal for a key no longer listed
        means someone deleted it first: the goal is met."""
        try:
            await self.client.delete_sub_api_key(api_key)
        except InvalidRequestError as exc:
            if await self._listed(api_key, sub_uid):
                raise failure(exc) from None
            return
        except BybitError as exc:
            raise failure(exc) from None
        if await self._listed(api_key, sub_uid):
            raise DeleteUnconfirmed(f"{DELETE_SUB_API}: the key is still listed after its deletion")

    async def _listed(self, api_key: str, sub_uid: int) -> bool:
        keys = await translated(lambda: self.client.list_sub_api_keys(sub_uid))
        return any(k.api_key == api_key for k in keys)

    async def list_keys(self, sub_uid: int) -> list[ListedKey]:
        return [listed(k) for k in await translated(lambda: self.client.list_sub_api_keys(sub_uid))]

    async def master_key_expiry(self) -> float | None:
        info = await translated(self.client.query_api)
        return info.expired_at.timestamp() if info.expired_at else None

    async def create_subaccount(self, username: str, *, note: str) -> int:
        member = await translated(lambda: self.client.create_sub_member(username, 1, note=note))
        return int(member.uid)
