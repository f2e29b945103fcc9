"""The Bybit V5 user-module endpoints keymint needs, as one async client per master account."""

import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import SecretStr

from keymint.bybit.errors import (
    CREATE_SUB_API,
    BybitError,
    CreateOutcome,
    CreateOutcomeLost,
    NetworkError,
    ServerError,
    outcome_unknown,
)
from keymint.bybit.events import RequestHook, ignore_event
from keymint.bybit.hosts import resolve_base_url
from keymint.bybit.models import (
    ApiKeyInfo,
    CallingKeyInfo,
    CreatedApiKey,
    MemberType,
    Model,
    ServerTime,
    SubMember,
    parse,
)
from keymint.bybit.ratelimit import RateLimiter
from keymint.bybit.signing import Credentials
from keymint.bybit.transport import Call, Transport

logger = logging.getLogger(__name__)

Permissions = Mapping[str, Sequence[str]]

_SUB_APIKEYS_PAGE = 20  # Bybit's maximum page size for sub-apikeys
_MAX_MEMBER_IDS = 200
# How a delete of something already gone is refused. Bybit documents 141009 for a missing
# sub-account; for a missing key it documents nothing, and the simulator answers 10001.
_KEY_GONE = frozenset({10001})
_SUB_GONE = frozenset({141009})


class BybitClient:
    """Async Bybit V5 client for one master account's sub-accounts and their API keys.

    Requests are signed over the exact bytes sent, paced at Bybit's per-UID limits (scaled by
    ``rate_limit_scale``), retried where that is safe, and failures raise the typed errors of
    ``keymint.bybit.errors``. ``key_cap_ret_codes`` are the create-sub-api retCodes that mean
    the sub-account's key cap is reached (Bybit documents none, so it is configuration).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: SecretStr,
        *,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        rate_limit_scale: float = 1.0,
        key_cap_ret_codes: Collection[int] = (),
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
        on_request: RequestHook = ignore_event,
    ) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._transport = Transport(
            resolve_base_url(base_url),
            Credentials(api_key, api_secret),
            recv_window_ms=recv_window_ms,
            timeout_s=timeout_s,
            rate_limiter=RateLimiter(rate_limit_scale),
            key_cap_ret_codes=key_cap_ret_codes,
            max_retries=max_retries,
            http_client=self._http,
            on_request=on_request,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def api_key(self) -> str:
        return self._transport.credentials.api_key

    def set_credentials(self, api_key: str, api_secret: SecretStr) -> None:
        """Switch to a rotated master key; calls already signed finish with the old one."""
        self._transport.credentials = Credentials(api_key, api_secret)

    def __repr__(self) -> str:
        return f"BybitClient(base_url={self.base_url!r}, api_key={self.api_key!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- market and calling key ---------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        return await self._transport.server_time()

    async def query_api(self) -> CallingKeyInfo:
        """The calling key: permissions, IPs, expiry and the account it belongs to."""
        path = "/v5/user/query-api"
        return parse(CallingKeyInfo, await self._transport.call(Call("GET", path)), path)

    # --- sub-accounts ----------------------------------------------------------------------------

    async def create_sub_member(
        self,
        username: str,
        member_type: int = 1,
        note: str | None = None,
        password: SecretStr | None = None,
    ) -> SubMember:
        """Create a sub-account.

        Not retried blindly: usernames are unique forever, so a lost response is resolved by
        looking the username up; a sub-account found there is the one this call created.
        """
        body: dict[str, object] = {"username": username, "memberType": member_type}
        if note is not None:
            body["note"] = note
        if password is not None:
            body["password"] = password.get_secret_value()
        path = "/v5/user/create-sub-member"
        call = Call("POST", path, body, retry=False, redact_body=password is not None)
        try:
            return parse(SubMember, await self._transport.call(call), path)
        except (NetworkError, ServerError) as exc:
            if outcome_unknown(exc):
                async for member in self.iter_sub_members():
                    if member.username == username:
                        return member
            raise

    async def list_sub_members(self) -> list[SubMember]:
        """Up to 1,000 sub-accounts (query-sub-members); ``iter_sub_members`` has no cap."""
        path = "/v5/user/query-sub-members"
        result = await self._transport.call(Call("GET", path))
        return [parse(SubMember, item, path) for item in result.get("subMembers", [])]

    async def iter_sub_members(self, page_size: int = 100) -> AsyncIterator[SubMember]:
        """Every sub-account, page by page (submembers)."""
        path = "/v5/user/submembers"
        pages = self._pages(path, {"pageSize": str(page_size)}, "nextCursor", "subMembers")
        async for item in pages:
            yield parse(SubMember, item, path)

    async def freeze_sub_member(self, subuid: str | int, frozen: bool) -> None:
        body = {"subuid": int(subuid), "frozen": int(frozen)}
        await self._transport.call(Call("POST", "/v5/user/frozen-sub-member", body))

    async def delete_sub_member(self, sub_member_id: str | int) -> None:
        """Delete a sub-account; one already gone after a lost response counts as deleted."""
        body = {"subMemberId": str(sub_member_id)}
        call = Call("POST", "/v5/user/del-submember", body, gone_ret_codes=_SUB_GONE)
        await self._transport.call(call)

    async def get_member_type(self, member_ids: Sequence[str | int]) -> list[MemberType]:
        """Wallet types of the master (always first) and up to 200 of its sub-accounts."""
        if len(member_ids) > _MAX_MEMBER_IDS:
            raise ValueError(f"get-member-type takes at most {_MAX_MEMBER_IDS} member ids")
        path = "/v5/user/get-member-type"
        params = {"memberIds": ",".join(map(str, member_ids)) or None}
        result = await self._transport.call(Call("GET", path, params))
        return [parse(MemberType, item, path) for item in result.get("accounts", [])]

    # --- sub-account API keys ----------------------------------------------------------------

    async def create_sub_api_key(
        self,
        subuid: str | int,
        *,
        note: str,
        permissions: Permissions,
        read_only: bool,
        ips: Sequence[str],
    ) -> CreatedApiKey:
        """Create an IP-bound API key on a sub-account and return it with its secret.

        ``note`` must be unique to this call (keymint writes its lease id): it is how a lost
        response is resolved. A create is never retried blindly: Bybit returns the secret once,
        in this response, so when that response is lost (dropped connection, timeout, 5xx) a
        retry could leave a second live key nobody can use or revoke by lease. Instead the
        sub-account's keys are listed; a key carrying ``note`` was created by this call and,
        its secret being lost, is deleted. The caller then gets ``CreateOutcomeLost`` saying
        which of ``CreateOutcome`` happened. A request still queued at Bybit can land after
        the listing; the reconciler's sweep of unknown notes covers that window.
        """
        if not note:
            raise ValueError("note must identify this create: it resolves a lost response")
        sub_uid = str(subuid)
        bound = _ip_binding(ips)
        body = {
            "subuid": int(sub_uid),
            "note": note,
            "readOnly": int(read_only),
            "ips": ",".join(bound),
            "permissions": _permission_body(permissions),
        }
        try:
            result = await self._transport.call(Call("POST", CREATE_SUB_API, body, retry=False))
            return parse(CreatedApiKey, {**result, "ips": bound}, CREATE_SUB_API)
        except (NetworkError, ServerError) as exc:
            if not outcome_unknown(exc):
                raise
            raise await self._resolve_lost_create(sub_uid, note, exc) from exc

    async def _resolve_lost_create(
        self, sub_uid: str, note: str, cause: BybitError
    ) -> CreateOutcomeLost:
        logger.warning("bybit create on sub %s lost its response, resolving: %s", sub_uid, cause)
        found: ApiKeyInfo | None = None
        try:
            found = await self.find_sub_api_key_by_note(sub_uid, note)
            if found is not None:
                await self.delete_sub_api_key(found.api_key)
        except BybitError as exc:
            logger.error("bybit lost create on sub %s is unresolved: %s", sub_uid, exc)
            outcome = CreateOutcome.UNKNOWN if found is None else CreateOutcome.ORPHANED
        else:
            outcome = CreateOutcome.NOT_CREATED if found is None else CreateOutcome.DELETED
        return CreateOutcomeLost(
            outcome=outcome,
            sub_uid=sub_uid,
            note=note,
            api_key=None if found is None else found.api_key,
            cause=cause,
        )

    async def update_sub_api_key(
        self,
        api_key: str,
        *,
        permissions: Permissions,
        read_only: bool,
        ips: Sequence[str],
    ) -> ApiKeyInfo:
        """Replace a sub-account key's permissions, read-only flag and IPs.

        All three are always sent: Bybit's docs leave open whether an omitted ``ips`` clears
        the binding or an omitted ``readOnly`` resets to read-write.
        """
        body = {
            "apikey": api_key,
            "readOnly": int(read_only),
            "ips": ",".join(_ip_binding(ips)),
            "permissions": _permission_body(permissions),
        }
        return await self._post(ApiKeyInfo, "/v5/user/update-sub-api", body)

    async def delete_sub_api_key(self, api_key: str) -> None:
        """Delete a sub-account key; a key already gone after a lost response counts as deleted."""
        call = Call(
            "POST", "/v5/user/delete-sub-api", {"apikey": api_key}, gone_ret_codes=_KEY_GONE
        )
        await self._transport.call(call)

    async def list_sub_api_keys(self, sub_uid: str | int) -> list[ApiKeyInfo]:
        """Every key of a sub-account, following the cursor through all pages."""
        path = "/v5/user/sub-apikeys"
        params = {"subMemberId": str(sub_uid), "limit": _SUB_APIKEYS_PAGE}
        return [
            parse(ApiKeyInfo, item, path)
            async for item in self._pages(path, params, "cursor", "result", "nextPageCursor")
        ]

    async def find_sub_api_key_by_note(self, sub_uid: str | int, note: str) -> ApiKeyInfo | None:
        """The first of the sub-account's keys whose note is ``note`` (keymint's are unique)."""
        for key in await self.list_sub_api_keys(sub_uid):
            if key.note == note:
                return key
        return None

    # --- master API key ----------------------------------------------------------------------

    async def update_master_api_key(
        self, *, permissions: Permissions, read_only: bool
    ) -> ApiKeyInfo:
        """Change the calling master key. Its IPs cannot be changed by API since 2026-02-10."""
        body = {"readOnly": int(read_only), "permissions": _permission_body(permissions)}
        return await self._post(ApiKeyInfo, "/v5/user/update-api", body)

    async def delete_master_api_key(self) -> None:
        """Delete the calling master key; this client cannot sign anything afterwards.

        A retry after a lost response is refused as an invalid key, which means it worked.
        """
        call = Call("POST", "/v5/user/delete-api", {}, gone_ret_codes=frozenset({10003}))
        await self._transport.call(call)

    # --- plumbing ------------------------------------------------------------------------------

    async def _post(self, model: type[Model], path: str, body: Mapping[str, object]) -> Model:
        return parse(model, await self._transport.call(Call("POST", path, body)), path)

    async def _pages(
        self,
        path: str,
        params: Mapping[str, object],
        cursor_param: str,
        items_key: str,
        next_key: str | None = None,
    ) -> AsyncIterator[Any]:
        """Items of every page; the cursor comes back under ``next_key`` (default the param).

        Bybit ends with an empty cursor on sub-apikeys and with "0" on submembers.
        """
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            result = await self._transport.call(Call("GET", path, {**params, cursor_param: cursor}))
            for item in result.get(items_key, []):
                yield item
            cursor = str(result.get(next_key or cursor_param) or "")
            if cursor in ("", "0"):
                return
            if cursor in seen:
                raise ServerError(None, "pagination cursor repeated", path, 200)
            seen.add(cursor)


def _ip_binding(ips: Sequence[str]) -> list[str]:
    """The IPs a key is bound to; keymint never makes unbound keys (which also expire in 90d)."""
    if isinstance(ips, str):
        raise TypeError("ips must be a sequence of addresses, not one string")
    bound = [ip.strip() for ip in ips]
    if not bound or any(not ip or ip == "*" or "," in ip for ip in bound):
        raise ValueError("ips must list one or more addresses; '*' (unbound) is refused")
    return bound


def _permission_body(permissions: Permissions) -> dict[str, list[str]]:
    return {group: list(values) for group, values in permissions.items()}
