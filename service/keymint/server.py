"""`keymint serve`: HTTPS by default, certificates reloaded in place when they change.

Bots send Vault tokens and receive secrets, so plain HTTP is served only on loopback or when
explicitly allowed, and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from pathlib import Path

import structlog
import uvicorn

from keymint.app import create_app, start_services
from keymint.settings import Settings

log = structlog.get_logger(__name__)


class InsecureListener(ValueError):
    """Plain HTTP was asked for on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listener(settings: Settings) -> bool:
    """Whether to serve TLS; raises when plain HTTP would reach the network unasked."""
    if settings.tls_cert_file and settings.tls_key_file:
        return True
    if settings.tls_cert_file or settings.tls_key_file:
        raise InsecureListener("set both KEYMINT_TLS_CERT_FILE and KEYMINT_TLS_KEY_FILE")
    if not is_loopback(settings.host) and not settings.allow_insecure_http:
        raise InsecureListener(
            f"refusing plain HTTP on {settings.host}: Vault tokens and Bybit secrets would "
            "cross the network in clear. Set KEYMINT_TLS_CERT_FILE and KEYMINT_TLS_KEY_FILE, "
            "or KEYMINT_ALLOW_INSECURE_HTTP=true behind a TLS-terminating proxy"
        )
    log.warning("serving_plain_http", host=settings.host, port=settings.port)
    return False


class CertReloader:
    """Reloads the certificate chain into the live SSLContext when either file changes, so a
    cert-manager rotation needs no restart; existing connections keep their handshake."""

    def __init__(self, context: ssl.SSLContext, cert: Path, key: Path, interval_s: float) -> None:
        self._context = context
        self._cert = cert
        self._key = key
        self._interval_s = interval_s
        self._stamp = self._mtimes()

    def _mtimes(self) -> tuple[float, float]:
        return (self._cert.stat().st_mtime, self._key.stat().st_mtime)

    def check(self) -> bool:
        try:
            stamp = self._mtimes()
            if stamp == self._stamp:
                return False
            self._context.load_cert_chain(self._cert, self._key)
        except (OSError, ssl.SSLError) as exc:
            # A half-written pair is normal mid-rotation: keep serving the old one.
            log.warning("tls_reload_failed", error_class=type(exc).__name__)
            return False
        self._stamp = stamp
        log.info("tls_certificate_reloaded", cert=str(self._cert))
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            self.check()


async def serve(settings: Settings) -> None:
    tls = check_listener(settings)
    services = await start_services(settings)
    config = uvicorn.Config(
        create_app(settings, services=services),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert_file) if tls else None,
        ssl_keyfile=str(settings.tls_key_file) if tls else None,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    config.load()
    server = uvicorn.Server(config)
    reload_task = None
    if tls and config.ssl is not None:
        assert settings.tls_cert_file and settings.tls_key_file
        reloader = CertReloader(
            config.ssl, settings.tls_cert_file, settings.tls_key_file, settings.tls_reload_s
        )
        reload_task = asyncio.create_task(reloader.run(), name="tls-reload")
    try:
        await server.serve()
    finally:
        if reload_task is not None:
            reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reload_task
