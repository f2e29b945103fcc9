"""The blocking client, for pybit bots: each lease renews itself on a daemon thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx

from keymint.client.auth import TokenSource, resolve_vault_addr, token_from_env
from keymint.client.errors import (
    Forbidden,
    KeymintError,
    LeaseNotFound,
    Unauthenticated,
)
from keymint.client.lease import Action, LeasePlan, Listener, log
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


class Keymint:
    """keymint's API for a bot. `addr` defaults to `KEYMINT_ADDR`, `token` to `VAULT_TOKEN` or
    `VAULT_TOKEN_FILE`; pass `approle_login(...)` or `kubernetes_login(...)` to log in."""

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
        self.http = httpx.Client(timeout=timeout_s)
        self.leases: list[Lease] = []

    def send(self, request: Request, *, auth: bool = True) -> httpx.Response:
        """The answer to `request`, after the retries the policy allows; a refusal raises."""
        attempt, waited, relogged = 0, 0.0, False
        while True:
            attempt += 1
            headers = dict(request.headers)
            if auth:
                headers["X-Vault-Token"] = self.tokens.token(self.http)
            try:
                response = self.http.request(
                    request.method, request.url, json=request.json, headers=headers
                )
            except httpx.HTTPError as exc:
                if not request.idempotent:
                    raise unreachable(request, exc) from None
                error: KeymintError = unreachable(request, exc)
            else:
                if not response.is_error:
                    return response
                error = error_for(request, response, self._secrets(request))
                if auth and isinstance(error, Forbidden | Unauthenticated) and not relogged:
                    # Once, with a fresh login if the source can make one.
                    relogged = True
                    self.tokens.invalidate()
                    if self.tokens.token(self.http) != headers["X-Vault-Token"]:
                        continue
            delay = self.retry.delay(attempt, waited, error.status, error.retry_after_s)
            if delay is None:
                raise error
            log.info("%s; retrying in %.1fs", error.message, delay)
            time.sleep(delay)
            waited += delay

    def _secrets(self, request: Request) -> list[str]:
        return [*self.tokens.known_secrets(), request.headers.get("X-Vault-Token", "")]

    def mint(
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
    ) -> Lease:
        """A key for `role` on a lease that renews itself, is replaced ahead of its max_ttl
        (`on_rotate` gets the new credentials; the old key lives `grace_s` longer) and is
        revoked by `close()` or at the end of a `with` block."""
        spec = MintSpec(role, ttl=ttl, instance_id=instance_id, wrap_ttl=wrap_ttl)
        credentials, times = self._mint(spec, idempotency_key)
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
        lease = Lease(self, plan)
        self.leases.append(lease)
        return lease

    def _mint(self, spec: MintSpec, idempotency_key: str | None) -> tuple[Credentials, LeaseTimes]:
        body = self.send(spec.request(self.addr, idempotency_key)).json()
        answer = granted(body)
        if isinstance(answer, str):
            vault = resolve_vault_addr(self._vault_addr)
            payload = self.send(unwrap_request(vault, answer), auth=False).json()
            answer = unwrapped(payload, time.time())
        credentials, duration = answer
        return credentials, self._times(credentials.lease_id, duration)

    def _times(self, lease_id: str, duration: float) -> LeaseTimes:
        try:
            return LeaseTimes.from_lease_data(self.lookup(lease_id))
        except Forbidden:
            # Without read on the lease, max_ttl is learnt from the first renewal.
            return LeaseTimes(duration, None)

    def lookup(self, lease_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.send(lookup_request(self.addr, lease_id)).json()["data"]
        return data

    def renew(self, lease_id: str, increment: int | str | None = None) -> dict[str, Any]:
        """The renewal's answer (its `warnings` say when the max_ttl capped it)."""
        body: dict[str, Any] = self.send(renew_request(self.addr, lease_id, increment)).json()
        return body

    def revoke(self, lease_id: str) -> bool:
        """True when the key is deleted at Bybit; False when keymint accepted the revocation
        and retries the deletion itself (a 202). A lease already gone counts as revoked."""
        try:
            return self.send(revoke_request(self.addr, lease_id)).status_code == 200
        except LeaseNotFound:
            return True

    def close(self) -> None:
        """Close (revoke) the leases still open, then the connections."""
        for lease in list(self.leases):
            lease.close()
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Lease:
    """A minted key kept alive by a background thread; `credentials` is always the one to use."""

    def __init__(self, client: Keymint, plan: LeasePlan) -> None:
        self._client = client
        self._plan = plan
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.last_error: str | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"keymint-lease-{plan.spec.role}", daemon=True
        )
        self._thread.start()

    @property
    def credentials(self) -> Credentials:
        return self._plan.credentials

    @property
    def lease_id(self) -> str:
        return self._plan.credentials.lease_id

    @property
    def lease_duration_s(self) -> float:
        """The lease's TTL as of its mint or last renewal."""
        return self._plan.ttl_s

    @property
    def rotations(self) -> int:
        return self._plan.rotations

    def add_listener(self, listener: Listener) -> None:
        """Also call `listener(new_credentials)` at each rotation (after `on_rotate`)."""
        self._plan.listeners.append(listener)

    def _run(self) -> None:
        plan = self._plan
        while True:
            action, at = plan.next()
            if self._stop.wait(max(0.0, at - plan.clock())):
                return
            with self._lock:
                if self._stop.is_set():
                    return
                self._step(action)

    def _step(self, action: Action) -> None:
        plan, client = self._plan, self._client
        try:
            if action == "revoke":
                for lease_id in plan.due_retirements():
                    client.revoke(lease_id)
            elif action == "renew":
                body = client.renew(plan.credentials.lease_id, plan.spec.ttl)
                plan.renewed(body)
            else:
                plan.replaced(*client._mint(plan.spec, None))
            self.last_error = None
        except KeymintError as exc:
            self.last_error = exc.message
            plan.failed(action, exc)

    def detach(self) -> None:
        """Stop renewing without revoking: the key lives until its TTL runs out (or whoever has
        the lease id renews or revokes it)."""
        self._stop.set()
        with self._lock:
            pass  # a renewal or rotation in progress finishes first
        if self in self._client.leases:
            self._client.leases.remove(self)

    def close(self) -> None:
        """Stop renewing and revoke this lease and any replaced one still in its grace."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._lock:
            pending = [lease_id for _, lease_id in self._plan.retiring]
            self._plan.retiring = []
            for lease_id in [*pending, self.lease_id]:
                try:
                    self._client.revoke(lease_id)
                except KeymintError as exc:
                    log.warning("could not revoke %s: %s", lease_id, exc.message)
        if self in self._client.leases:
            self._client.leases.remove(self)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lease({self.lease_id!r}, role={self._plan.spec.role!r})"
