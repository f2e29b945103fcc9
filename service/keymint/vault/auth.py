"""How keymint itself logs in to Vault, and keeps its token alive.

`VaultSession` renews the token at `renew_at` (2/3) of its TTL, as Vault Agent does, and logs in
again when the token cannot be renewed, when renewal fails, or as soon as renewal no longer
gives back the full TTL (the token is nearing its max TTL). A token without a TTL, such as a
root token, is never renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import hvac
from pydantic import SecretStr

from keymint.errors import KeymintError
from keymint.vault.endpoint import OperationHook, VaultEndpoint, call, no_hook
from keymint.vault.errors import VaultDenied, VaultLoginFailed, VaultRejected

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class TokenTtl:
    ttl_s: int
    renewable: bool

    @classmethod
    def from_auth(cls, auth: dict[str, Any]) -> TokenTtl:
        return cls(int(auth["lease_duration"]), bool(auth.get("renewable", False)))


class LoginMethod(Protocol):
    name: ClassVar[str]

    def login(self, client: hvac.Client) -> TokenTtl:
        """Log `client` in (blocking) and say how long its token lives."""
        ...


def _read_secret_file(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise VaultLoginFailed(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if not text:
        raise VaultLoginFailed(f"{str(path)!r} is empty")
    return text


@dataclass(frozen=True)
class TokenAuth:
    """A token handed to keymint (development); it cannot be replaced, only renewed."""

    name: ClassVar[str] = "token"
    token: SecretStr

    def login(self, client: hvac.Client) -> TokenTtl:
        client.token = self.token.get_secret_value()
        data = client.auth.token.lookup_self()["data"]
        # The root token `bao operator init` prints has no `renewable` (a dev server's has).
        return TokenTtl(int(data["ttl"]), bool(data.get("renewable", False)))


@dataclass(frozen=True)
class AppRoleAuth:
    """AppRole: the role_id and the secret_id are each given, or read from a file at every
    login (as Vault Agent's role_id_file_path and secret_id_file_path)."""

    name: ClassVar[str] = "approle"
    role_id: str | None = None
    secret_id: SecretStr | None = None
    secret_id_file: Path | None = None
    mount: str = "approle"
    role_id_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.role_id is None) == (self.role_id_file is None):
            raise ValueError("give one of role_id and role_id_file")
        if self.secret_id is not None and self.secret_id_file is not None:
            raise ValueError("give either secret_id or secret_id_file, not both")

    def login(self, client: hvac.Client) -> TokenTtl:
        role_id = (
            self.role_id if self.role_id_file is None else _read_secret_file(self.role_id_file)
        )
        if self.secret_id_file is not None:
            secret_id: str | None = _read_secret_file(self.secret_id_file)
        else:
            secret_id = self.secret_id.get_secret_value() if self.secret_id else None
        resp = client.auth.approle.login(role_id, secret_id, mount_point=self.mount)
        return TokenTtl.from_auth(resp["auth"])


@dataclass(frozen=True)
class KubernetesAuth:
    """Kubernetes: the pod's service-account JWT, re-read at every login (kubelet rotates it)."""

    name: ClassVar[str] = "kubernetes"
    role: str
    jwt_file: Path = SERVICE_ACCOUNT_TOKEN
    mount: str = "kubernetes"

    def login(self, client: hvac.Client) -> TokenTtl:
        jwt = _read_secret_file(self.jwt_file)
        resp = client.auth.kubernetes.login(self.role, jwt, mount_point=self.mount)
        return TokenTtl.from_auth(resp["auth"])


class VaultSession:
    """keymint's own Vault client: logged in, and kept logged in by a background task."""

    def __init__(
        self,
        endpoint: VaultEndpoint,
        method: LoginMethod,
        *,
        hook: OperationHook = no_hook,
        renew_at: float = 2 / 3,
    ) -> None:
        self._method = method
        self._hook = hook
        self._renew_at = renew_at
        self._client = endpoint.client()
        self._ttl = TokenTtl(0, False)
        self._login_ttl_s = 0
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"VaultSession({self._method.name}, ttl={self._ttl.ttl_s}s)"

    @property
    def client(self) -> hvac.Client:
        """Stays valid across renewals and re-logins: the token is swapped in place."""
        return self._client

    async def start(self) -> None:
        await self._login()
        self._task = asyncio.create_task(self._keep_alive(), name="vault-token-renewal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _login(self) -> None:
        try:
            ttl = await call(
                lambda: self._method.login(self._client),
                op="auth.login",
                target=f"auth/{self._method.name}",
                hook=self._hook,
            )
        except (VaultDenied, VaultRejected):
            raise VaultLoginFailed(
                f"Vault refused keymint's {self._method.name} login: check the role and its"
                " credentials"
            ) from None
        self._login_ttl_s = ttl.ttl_s
        self._set(ttl)

    async def _renew(self) -> None:
        resp = await call(
            self._client.auth.token.renew_self,
            op="auth.renew",
            target="auth/token/renew-self",
            hook=self._hook,
        )
        self._set(TokenTtl.from_auth(resp["auth"]))

    def _set(self, ttl: TokenTtl) -> None:
        now = time.monotonic()
        self._ttl = ttl
        self._expires_at = now + ttl.ttl_s
        self._refresh_at = now + ttl.ttl_s * self._renew_at

    async def _keep_alive(self) -> None:
        while self._ttl.ttl_s > 0:
            await asyncio.sleep(max(0.0, self._refresh_at - time.monotonic()))
            try:
                await self._refresh()
            except Exception as exc:  # the loop must outlive any one failure
                remaining = self._expires_at - time.monotonic()
                self._refresh_at = time.monotonic() + min(30.0, max(1.0, remaining / 3))
                reason = exc.message if isinstance(exc, KeymintError) else type(exc).__name__
                log.warning("vault token refresh failed, retrying: %s", reason)

    async def _refresh(self) -> None:
        if self._ttl.renewable:
            try:
                await self._renew()
            except KeymintError as exc:
                log.info("vault token renewal failed, logging in again: %s", exc.message)
            else:
                # A shorter TTL than at login means the max TTL is near: replace the token
                # now, while it still works, rather than in its last third.
                if self._ttl.ttl_s >= self._login_ttl_s:
                    return
        await self._login()
