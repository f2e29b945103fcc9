"""The asyncio client: the same API as `Keymint`, awaited; each lease renews itself in a task.

Only the sending differs from `sync`: requests, retries and the lease's timetable come from
`protocol` and `lease`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx

from keymint.client.auth import TokenSource, resolve_vault_addr, token_from_env
from keymint.client.errors import Forbidden, KeymintError, LeaseNotFound, Unauthenticated
from keymint.client.lease import LeasePlan, Listener, log
from keymint.client.protocol import (
    Credentials,
    LeaseTimes,
    MintSpec,
    Request,
    RetryPolicy,
    error_for,
    granted,
    keymint_addr,
    lookup_request,
    renew_request,
    revoke_request,
    unreachable,
    unwrap_request,
    unwrapped,
)


class AsyncKeymint:
    """keymint's API for an asyncio bot; see `Keymint` for the arguments."""

    def __init__(
        self,
        addr: str | None = None,
        *,
        token: TokenSource | None = None,
        vault_addr: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addr = keymint_addr(addr)
        self.tokens = token or token_from_env()
        self._vault_addr = vault_addr
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.http = httpx.AsyncClient(timeout=timeout_s)
        self.leases: list[AsyncLease] = []

    async def send(self, request: Request, *, auth: bool = True) -> httpx.Response:
        attempt, waited, relogged = 0, 0.0, False
        while True:
            attempt += 1
            headers = dict(request.headers)
            if auth:
                headers["X-Vault-Token"] = await self.tokens.atoken(self.http)
            try:
                response = await self.http.request(
                    request.method, request.url, json=request.json, headers=headers
                )
            except httpx.HTTPError as exc:
                if not request.idempotent:
                    raise unreachable(request, exc) from None
                error: KeymintError = unreachable(request, exc)
            else:
                if not response.is_error:
                    return response
                secrets = [*self.tokens.known_secrets(), headers.get("X-Vault-Token", "")]
                error = error_for(request, response, secrets)
                if auth and isinstance(error, Forbidden | Unauthenticated) and not relogged:
                    relogged = True
                    self.tokens.invalidate()
                    if await self.tokens.atoken(self.http) != headers["X-Vault-Token"]:
                        continue
            delay = self.retry.delay(attempt, waited, error.status, error.retry_after_s)
            if delay is None:
                raise error
            log.info("%s; retrying in %.1fs", error.message, delay)
            await asyncio.sleep(delay)
            waited += delay

    async def mint(
        self,
        role: str,
        *,
        ttl: int | str | None = None,
        instance_id: str | None = None,
        idempotency_key: str | None = None,
        wrap_ttl: int | str | None = None,
        on_rotate: Listener | None = None,
        grace_s: float = 30.0,
        rotate_before_s: float | None = None,
        renew_fraction: float = 2 / 3,
    ) -> AsyncLease:
        spec = MintSpec(role, ttl=ttl, instance_id=instance_id, wrap_ttl=wrap_ttl)
        credentials, times = await self._mint(spec, idempotency_key)
        plan = LeasePlan(
            spec,
            credentials,
            self.clock,
            renew_fraction=renew_fraction,
            grace_s=grace_s,
            rotate_before_s=rotate_before_s,
            listeners=[on_rotate] if on_rotate else [],
        )
        plan.start(times)
        lease = AsyncLease(self, plan)
        self.leases.append(lease)
        return lease

    async def _mint(
        self, spec: MintSpec, idempotency_key: str | None
    ) -> tuple[Credentials, LeaseTimes]:
        body = (await self.send(spec.request(self.addr, idempotency_key))).json()
        answer = granted(body)
        if isinstance(answer, str):
            vault = resolve_vault_addr(self._vault_addr)
            payload = (await self.send(unwrap_request(vault, answer), auth=False)).json()
            answer = unwrapped(payload, time.time())
        credentials, duration = answer
        try:
            times = LeaseTimes.from_lease_data(await self.lookup(credentials.lease_id))
        except Forbidden:
            times = LeaseTimes(duration, None)
        return credentials, times

    async def lookup(self, lease_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.send(lookup_request(self.addr, lease_id))).json()["data"]
        return data

    async def renew(self, lease_id: str, increment: int | str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (
            await self.send(renew_request(self.addr, lease_id, increment))
        ).json()
        return body

    async def revoke(self, lease_id: str) -> bool:
        try:
            return (await self.send(revoke_request(self.addr, lease_id))).status_code == 200
        except LeaseNotFound:
            return True

    async def aclose(self) -> None:
        """Close (revoke) the leases still open, then the connections."""
        for lease in list(self.leases):
            await lease.aclose()
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class AsyncLease:
    """A minted key kept alive by an asyncio task; `credentials` is always the one to use."""

    def __init__(self, client: AsyncKeymint, plan: LeasePlan) -> None:
        self._client = client
        self._plan = plan
        self.last_error: str | None = None
        self._task = asyncio.create_task(self._run(), name=f"keymint-lease-{plan.spec.role}")

    @property
    def credentials(self) -> Credentials:
        return self._plan.credentials

    @property
    def lease_id(self) -> str:
        return self._plan.credentials.lease_id

    @property
    def rotations(self) -> int:
        return self._plan.rotations

    def add_listener(self, listener: Listener) -> None:
        self._plan.listeners.append(listener)

    async def _run(self) -> None:
        plan, client = self._plan, self._client
        while True:
            action, at = plan.next()
            await asyncio.sleep(max(0.0, at - plan.clock()))
            try:
                if action == "revoke":
                    for lease_id in plan.due_retirements():
                        await client.revoke(lease_id)
                elif action == "renew":
                    body = await client.renew(plan.credentials.lease_id, plan.spec.ttl)
                    plan.renewed(body)
                else:
                    plan.replaced(*await client._mint(plan.spec, None))
                self.last_error = None
            except KeymintError as exc:
                self.last_error = exc.message
                plan.failed(action, exc)

    async def aclose(self) -> None:
        """Stop renewing and revoke this lease and any replaced one still in its grace."""
        if self not in self._client.leases:
            return
        self._client.leases.remove(self)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        pending = [lease_id for _, lease_id in self._plan.retiring]
        self._plan.retiring = []
        for lease_id in [*pending, self.lease_id]:
            try:
                await self._client.revoke(lease_id)
            except KeymintError as exc:
                log.warning("could not revoke %s: %s", lease_id, exc.message)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncLease({self.lease_id!r}, role={self._plan.spec.role!r})"
