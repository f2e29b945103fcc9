"""pybit on a keymint lease: `pybit_session(lease)` is a `pybit.unified_trading.HTTP` on the
right Bybit host whose key and secret follow the lease's rotations.

pybit reads `api_key` and `api_secret` separately while it signs, so a swap between the two reads
would sign with a mixed pair: the swap and the signing share a lock. Needs pybit (not a
dependency of `keymint.client` itself).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from pybit.unified_trading import HTTP

from keymint.bybit.hosts import resolve_base_url
from keymint.client.lease import Listener
from keymint.client.protocol import Credentials


class RotatingLease(Protocol):
    @property
    def credentials(self) -> Credentials: ...

    def add_listener(self, listener: Listener) -> None: ...


class KeymintHTTP(HTTP):  # type: ignore[misc]
    """pybit's HTTP, with credentials that can be replaced while requests are in flight."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials_lock = threading.Lock()

    def _prepare_headers(self, *args: Any, **kwargs: Any) -> Any:
        with self._credentials_lock:
            return super()._prepare_headers(*args, **kwargs)

    def use_credentials(self, credentials: Credentials) -> None:
        with self._credentials_lock:
            self.api_key = credentials.api_key
            self.api_secret = credentials.api_secret


def pybit_session(lease: RotatingLease, bybit: str = "mainnet", **options: Any) -> KeymintHTTP:
    """A pybit session signed with the lease's key. `bybit` is an environment name as in
    keymint's settings (mainnet, testnet, demo, nl, tr, eu, ...) or an http(s) base URL;
    `options` go to pybit's HTTP (`max_retries`, `recv_window`, `timeout`, ...)."""
    credentials = lease.credentials
    session = KeymintHTTP(api_key=credentials.api_key, api_secret=credentials.api_secret, **options)
    # pybit derives its host from testnet/demo/domain/tld flags; the resolved URL covers them
    # all, and a simulator's too.
    session.endpoint = resolve_base_url(bybit)
    lease.add_listener(session.use_credentials)
    return session
