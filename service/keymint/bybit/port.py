"""The engine's `Bybit` port over `BybitClient`: Bybit's failures become the engine's at this
edge, and a delete is only ever reported done once a listing shows the key gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

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


class _Confirmations:
    """Deletes on one sub-account that overlap in time share one confirming listing: the
    listing starts once none of them is still at Bybit, so it shows every one of them done.
    A sweep deleting many keys at once then lists each sub-account once per wave, not once
    per key (sub-apikeys is paced at Bybit's rate like any endpoint)."""

    def __init__(self, list_api_keys: Callable[[int], Coroutine[Any, Any, set[str]]]) -> None:
        self._list = list_api_keys
        self._deleting: dict[int, int] = {}
        self._waiting: dict[int, list[tuple[str, asyncio.Future[bool]]]] = {}

    @contextlib.asynccontextmanager
    async def deleting(self, sub_uid: int) -> AsyncIterator[None]:
        self._deleting[sub_uid] = self._deleting.get(sub_uid, 0) + 1
        try:
            yield
        finally:
            self._deleting[sub_uid] -= 1
            self._flush(sub_uid)

    async def still_listed(self, api_key: str, sub_uid: int) -> bool:
        """Whether Bybit lists the key, by a listing that started after its delete ended."""
        waiting: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(sub_uid, []).append((api_key, waiting))
        self._flush(sub_uid)
        return await waiting

    def _flush(self, sub_uid: int) -> None:
        if self._deleting.get(sub_uid, 0) or not self._waiting.get(sub_uid):
            return
        self._deleting.pop(sub_uid, None)
        batch = self._waiting.pop(sub_uid)
        task = asyncio.create_task(self._list(sub_uid))

        def settle(done: asyncio.Task[set[str]]) -> None:
            error: BaseException = BybitUnreachable("the confirming listing was cancelled")
            if not done.cancelled():
                error = done.exception() or error
            for api_key, waiting in batch:
                if waiting.done():
                    continue
                if done.cancelled() or done.exception() is not None:
                    waiting.set_exception(error)
                else:
                    waiting.set_result(api_key in done.result())

        task.add_done_callback(settle)


class BybitPort:
    def __init__(self, client: BybitClient) -> None:
        self.client = client
        self._confirmations = _Confirmations(self._api_keys)

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
        refused: BybitError | None = None
        async with self._confirmations.deleting(sub_uid):
            try:
                await self.client.delete_sub_api_key(api_key)
            except InvalidRequestError as exc:
                refused = exc
            except BybitError as exc:
                raise failure(exc) from None
        if not await self._confirmations.still_listed(api_key, sub_uid):
            return
        if refused is not None:
            raise failure(refused)
        raise DeleteUnconfirmed(f"{DELETE_SUB_API}: the key is still listed after its deletion")

    async def _api_keys(self, sub_uid: int) -> set[str]:
        keys = await translated(lambda: self.client.list_sub_api_keys(sub_uid))
        return {k.api_key for k in keys}

    async def list_keys(self, sub_uid: int) -> list[ListedKey]:
        return [listed(k) for k in await translated(lambda: self.client.list_sub_api_keys(sub_uid))]

    async def master_key_expiry(self) -> float | None:
        info = await translated(self.client.query_api)
        return info.expired_at.timestamp() if info.expired_at else None

    async def create_subaccount(self, username: str, *, note: str) -> int:
        member = await translated(lambda: self.client.create_sub_member(username, 1, note=note))
        return int(member.uid)

    async def subaccount_uids(self) -> set[int]:
        async def every() -> set[int]:
            return {int(member.uid) async for member in self.client.iter_sub_members()}

        return await translated(every)
