"""How keymint reaches Vault: address, TLS, one connection pool, and calls made off the loop."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import hvac
import hvac.exceptions as hvac_errors
import requests
from requests.adapters import HTTPAdapter

from keymint.errors import KeymintError
from keymint.vault.cluster import ActiveNode, FollowActive
from keymint.vault.errors import VaultUnavailable, translate

log = logging.getLogger(__name__)

T = TypeVar("T")

OperationHook = Callable[[str, float, bool], None]
"""Called after every Vault operation with (operation, seconds, ok), e.g. to feed a histogram."""


def no_hook(operation: str, seconds: float, ok: bool) -> None:
    """The default hook: records nothing."""


@dataclass(frozen=True)
class TlsOptions:
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    skip_verify: bool = False

    @property
    def verify(self) -> bool | str:
        if self.skip_verify:
            return False
        return str(self.ca_cert) if self.ca_cert else True

    @property
    def cert(self) -> tuple[str, str] | None:
        if self.client_cert is None:
            return None
        # A PEM file may hold the certificate and its key together.
        return (str(self.client_cert), str(self.client_key or self.client_cert))


# hvac is synchronous: each call holds a thread and a pooled connection. asyncio's default
# executor has cpu+4 threads (6 on two cores) and requests pools 10 connections per host, so a
# fleet of bots would queue behind a handful of Vault calls.
VAULT_CONCURRENCY = 32
_VAULT_THREADS = ThreadPoolExecutor(VAULT_CONCURRENCY, thread_name_prefix="vault")


class VaultEndpoint:
    """One Vault server, or the nodes of an HA cluster (`addr` comma-separated, every call sent
    to the active node); hands out hvac clients that share a connection pool."""

    def __init__(
        self,
        addr: str,
        *,
        tls: TlsOptions | None = None,
        timeout_s: int = 10,
        namespace: str | None = None,
    ) -> None:
        self.addrs = [a.strip().rstrip("/") for a in addr.split(",") if a.strip()]
        if not self.addrs:
            raise ValueError("the Vault address is empty")
        self.addr = self.addrs[0]
        self.tls = tls or TlsOptions()
        self.timeout_s = timeout_s
        self.namespace = namespace
        # One address may be a load balancer: what answers there is Vault's business.
        if len(self.addrs) == 1:
            self._http = self._pooled(requests.Session(), hosts=1)
        else:
            probe = self._pooled(requests.Session(), hosts=len(self.addrs))
            nodes = ActiveNode(self.addrs, probe=probe, timeout_s=min(2.0, timeout_s))
            self._http = self._pooled(FollowActive(self.addr, nodes), hosts=len(self.addrs))

    def _pooled(self, http: requests.Session, *, hosts: int) -> requests.Session:
        adapter = HTTPAdapter(pool_connections=hosts, pool_maxsize=VAULT_CONCURRENCY)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        # hvac prefers a session's own verify/cert over its arguments, so both must agree.
        http.verify = self.tls.verify
        http.cert = self.tls.cert
        return http

    def client(self, token: str = "") -> hvac.Client:
        # Never None: hvac would then fall back to VAULT_TOKEN or ~/.vault-token.
        return hvac.Client(
            url=self.addr,
            token=token,
            verify=self.tls.verify,
            cert=self.tls.cert,
            timeout=self.timeout_s,
            session=self._http,
            namespace=self.namespace,
        )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"VaultEndpoint({','.join(self.addrs)!r})"


async def call(
    fn: Callable[[], T],
    *,
    op: str,
    target: str,
    hook: OperationHook,
    denied: Callable[[], KeymintError] | None = None,
) -> T:
    """Run the blocking hvac call `fn` in a thread, time it, and translate its failures."""
    started = time.perf_counter()
    try:
        # As asyncio.to_thread does, but on the Vault pool, with the caller's context (request id).
        result = await asyncio.get_running_loop().run_in_executor(
            _VAULT_THREADS, contextvars.copy_context().run, fn
        )
    except (hvac_errors.VaultError, requests.RequestException) as exc:
        failure = translate(exc, op=op, target=target, denied=denied)
    except BaseException:
        hook(op, time.perf_counter() - started, False)
        raise
    else:
        hook(op, time.perf_counter() - started, True)
        return result
    # The hook's flag says whether Vault answered: a refusal (CAS conflict, 403) is not an outage.
    hook(op, time.perf_counter() - started, not isinstance(failure, VaultUnavailable))
    if failure.status_code >= 500:
        log.warning("vault call failed: %s", failure.message)
    # Raised outside the handler, so hvac's exception (URL, response body) is neither the
    # cause nor the context of what callers and tracebacks see.
    raise failure
