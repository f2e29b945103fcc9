"""Where the bot's own Vault token comes from: given, a Vault Agent sink file, or a login.

A login (AppRole, Kubernetes) goes straight to Vault's HTTP API and is redone once 2/3 of the
token's TTL has passed, as Vault Agent renews; a sink file is read at every use, so the agent's
renewals and re-logins reach the bot without a restart.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from keymint.client.errors import VaultLoginFailed

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
LOGIN_TIMEOUT_S = 10.0


class TokenSource(Protocol):
    def token(self, http: httpx.Client) -> str:
        """The token to send now (may log in, blocking)."""
        ...

    async def atoken(self, http: httpx.AsyncClient) -> str:
        """The same, for asyncio."""
        ...

    def invalidate(self) -> None:
        """Vault refused the token: get a new one at the next use, if this source can."""
        ...

    def known_secrets(self) -> list[str]:
        """Values that must never appear in an error message."""
        ...


class StaticToken:
    """A token handed over as is (`VAULT_TOKEN`): it cannot be replaced."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise VaultLoginFailed("the Vault token is empty")
        self._token = token.strip()

    def token(self, http: httpx.Client) -> str:
        return self._token

    async def atoken(self, http: httpx.AsyncClient) -> str:
        return self._token

    def invalidate(self) -> None:
        pass

    def known_secrets(self) -> list[str]:
        return [self._token]

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class TokenFile:
    """A token file kept fresh by someone else (a Vault Agent `file` sink)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last = ""

    def _read(self) -> str:
        try:
            token = self.path.read_text().strip()
        except OSError as exc:
            raise VaultLoginFailed(
                f"cannot read the token file {str(self.path)!r}: {exc.strerror}"
            ) from None
        if not token:
            raise VaultLoginFailed(f"the token file {str(self.path)!r} is empty")
        self._last = token
        return token

    def token(self, http: httpx.Client) -> str:
        return self._read()

    async def atoken(self, http: httpx.AsyncClient) -> str:
        return self._read()

    def invalidate(self) -> None:
        pass

    def known_secrets(self) -> list[str]:
        return [self._last]

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"


class VaultLogin:
    """A login at `POST {vault_addr}/v1/auth/{mount}/login`, redone before the token expires."""

    def __init__(
        self,
        mount: str,
        body: Callable[[], dict[str, str]],
        *,
        vault_addr: str | None = None,
        relogin_at: float = 2 / 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{resolve_vault_addr(vault_addr)}/v1/auth/{mount.strip('/')}/login"
        self._body = body
        self._relogin_at = relogin_at
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._stale_at = 0.0
        self.logins = 0

    def _fresh(self) -> str | None:
        return self._token if self._token and self._clock() < self._stale_at else None

    def _accept(self, response: httpx.Response) -> str:
        if response.is_error:
            raise VaultLoginFailed(
                f"Vault refused the login at {self.url} (HTTP {response.status_code}): "
                + "; ".join(_errors_of(response)),
                status=response.status_code,
            )
        auth = response.json().get("auth") or {}
        token = auth.get("client_token")
        if not isinstance(token, str) or not token:
            raise VaultLoginFailed(f"Vault's login answer at {self.url} has no client_token")
        ttl = float(auth.get("lease_duration") or 0)
        self._token = token
        # A token without a TTL (ttl 0) never goes stale.
        self._stale_at = self._clock() + ttl * self._relogin_at if ttl else float("inf")
        self.logins += 1
        return token

    def token(self, http: httpx.Client) -> str:
        with self._lock:
            if fresh := self._fresh():
                return fresh
            try:
                response = http.post(self.url, json=self._body(), timeout=LOGIN_TIMEOUT_S)
            except httpx.HTTPError as exc:
                raise VaultLoginFailed(
                    f"cannot reach Vault at {self.url}: {type(exc).__name__}"
                ) from None
            return self._accept(response)

    async def atoken(self, http: httpx.AsyncClient) -> str:
        if fresh := self._fresh():
            return fresh
        try:
            response = await http.post(self.url, json=self._body(), timeout=LOGIN_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise VaultLoginFailed(
                f"cannot reach Vault at {self.url}: {type(exc).__name__}"
            ) from None
        return self._accept(response)

    def invalidate(self) -> None:
        self._stale_at = 0.0

    def known_secrets(self) -> list[str]:
        return [self._token, *self._body().values()]

    def __repr__(self) -> str:
        return f"VaultLogin({self.url!r})"


def approle_login(
    role_id: str,
    secret_id: str,
    *,
    mount: str = "approle",
    vault_addr: str | None = None,
) -> VaultLogin:
    return VaultLogin(
        mount, lambda: {"role_id": role_id, "secret_id": secret_id}, vault_addr=vault_addr
    )


def kubernetes_login(
    role: str,
    *,
    jwt_file: str | Path = SERVICE_ACCOUNT_TOKEN,
    mount: str = "kubernetes",
    vault_addr: str | None = None,
) -> VaultLogin:
    """The pod's service-account JWT, re-read at every login (the kubelet rotates it)."""
    path = Path(jwt_file)

    def body() -> dict[str, str]:
        try:
            jwt = path.read_text().strip()
        except OSError as exc:
            raise VaultLoginFailed(f"cannot read {str(path)!r}: {exc.strerror}") from None
        return {"role": role, "jwt": jwt}

    return VaultLogin(mount, body, vault_addr=vault_addr)


def token_from_env() -> TokenSource:
    """`VAULT_TOKEN` (or `BAO_TOKEN`), else the file named by `VAULT_TOKEN_FILE`."""
    token = os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")
    if token:
        return StaticToken(token)
    if path := os.environ.get("VAULT_TOKEN_FILE"):
        return TokenFile(path)
    raise VaultLoginFailed(
        "no Vault token: set VAULT_TOKEN or VAULT_TOKEN_FILE, or pass a login "
        "(keymint.client.approle_login, kubernetes_login)"
    )


def resolve_vault_addr(given: str | None) -> str:
    addr = given or os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR")
    if not addr:
        raise VaultLoginFailed("no Vault address: pass vault_addr= or set VAULT_ADDR")
    return addr.rstrip("/")


def _errors_of(response: httpx.Response) -> list[str]:
    try:
        body: Any = response.json()
    except ValueError:
        return ["not a JSON answer"]
    errors = body.get("errors") if isinstance(body, dict) else None
    return [str(e) for e in errors] if isinstance(errors, list) and errors else ["no message"]


def login_from_env() -> TokenSource:
    """How `keymint exec`, `agent` and the one-shot commands get their token: a Kubernetes login
    when `KEYMINT_K8S_ROLE` is set (`KEYMINT_K8S_MOUNT`, `KEYMINT_K8S_JWT_FILE`), an AppRole login
    when `KEYMINT_APPROLE_ROLE_ID` is (with `KEYMINT_APPROLE_SECRET_ID`), else
    `token_from_env()`. Logins go to `VAULT_ADDR`."""
    env = os.environ
    if role := env.get("KEYMINT_K8S_ROLE"):
        return kubernetes_login(
            role,
            jwt_file=env.get("KEYMINT_K8S_JWT_FILE") or SERVICE_ACCOUNT_TOKEN,
            mount=env.get("KEYMINT_K8S_MOUNT") or "kubernetes",
        )
    if role_id := env.get("KEYMINT_APPROLE_ROLE_ID"):
        secret_id = env.get("KEYMINT_APPROLE_SECRET_ID")
        if not secret_id:
            raise VaultLoginFailed(
                "KEYMINT_APPROLE_ROLE_ID is set but KEYMINT_APPROLE_SECRET_ID is not"
            )
        return approle_login(
            role_id, secret_id, mount=env.get("KEYMINT_APPROLE_MOUNT") or "approle"
        )
    return token_from_env()
