"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from keymint import __version__, wiring
from keymint.api import (
    config,
    creds,
    leases,
    reconcile,
    roles,
    static_roles,
    subaccounts,
    sys,
    sys_leases,
)
from keymint.api.errors import install_error_handlers
from keymint.api.middleware import RequestContext
from keymint.engine.layout import LegacyLayout
from keymint.engine.roles_file import RolesFileError
from keymint.errors import KeymintError
from keymint.settings import Settings

log = structlog.get_logger(__name__)


# What stops start-up with a message an operator can act on; anything else is a bug.
STARTUP_ERRORS = (KeymintError, RolesFileError, LegacyLayout, ValueError)


async def start_services(settings: Settings) -> wiring.Services:
    """The services, or StartupFailed after logging why (no traceback: the reason is the
    message)."""
    try:
        return await wiring.start(settings)
    except STARTUP_ERRORS as exc:
        message = exc.message if isinstance(exc, KeymintError) else str(exc)
        log.error("startup_failed", error=message)
        raise StartupFailed(message) from None


class StartupFailed(RuntimeError):
    """keymint could not start; the reason has been logged."""


def create_app(
    settings: Settings | None = None, *, services: wiring.Services | None = None
) -> FastAPI:
    """The app; it starts its services when it starts, unless given ones already started
    (`keymint serve`, which reports a failed start-up without a traceback)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = services or await start_services(settings or Settings())
        app.state.services = started
        try:
            yield
        finally:
            await started.stop()

    app = FastAPI(
        title="keymint",
        version=__version__,
        summary="Short-lived, IP-pinned Bybit sub-account API keys for trading bots",
        lifespan=lifespan,
    )
    routers = [
        module.router
        for module in (
            sys,
            sys_leases,
            creds,
            leases,
            roles,
            static_roles,
            config,
            reconcile,
            subaccounts,
        )
    ]
    install_error_handlers(app, [route for router in routers for route in router.routes])
    app.add_middleware(RequestContext)
    for router in routers:
        app.include_router(router)
    return app
