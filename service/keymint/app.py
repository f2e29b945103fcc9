"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from keymint import __version__, wiring
from keymint.api import config, creds, leases, reconcile, roles, static_roles, subaccounts, sys
from keymint.api.errors import install_error_handlers
from keymint.api.middleware import RequestContext
from keymint.engine.layout import LegacyLayout
from keymint.engine.roles_file import RolesFileError
from keymint.errors import KeymintError
from keymint.settings import Settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            services = await wiring.start(settings or Settings())
        except (KeymintError, RolesFileError, LegacyLayout, ValueError) as exc:
            message = exc.message if isinstance(exc, KeymintError) else str(exc)
            log.error("startup_failed", error=message)
            raise
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="keymint",
        version=__version__,
        summary="Short-lived, IP-pinned Bybit sub-account API keys for trading bots",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestContext)
    for module in (sys, creds, leases, roles, static_roles, config, reconcile, subaccounts):
        app.include_router(module.router)
    return app
