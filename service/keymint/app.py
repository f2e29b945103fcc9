"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from keymint import __version__


def create_app() -> FastAPI:
    app = FastAPI(
        title="keymint",
        version=__version__,
        summary="Short-lived, IP-pinned Bybit sub-account API keys for trading bots",
    )

    @app.get("/healthz", tags=["sys"], operation_id="sys_healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves HTTP. Never touches Vault or Bybit."""
        return {"status": "ok"}

    return app
