"""Every error leaves as Vault's shape, `{"errors": [...]}`, from this one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from keymint.engine.templates import describe_errors, describe_validation_error
from keymint.errors import KeymintError

log = structlog.get_logger(__name__)


def error_response(
    status: int, *messages: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status, headers=headers)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at this path: Starlette names only the first route's,
    and keymint declares one route per method."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    @app.exception_handler(KeymintError)
    async def _keymint(request: Request, exc: KeymintError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("request_failed", status=exc.status_code, error=exc.message)
        return error_response(exc.status_code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, *describe_errors(exc.errors(), skip=["body"]))

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, exc: ValidationError) -> JSONResponse:
        return error_response(400, describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(routes, request.scope))
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception text may carry anything an upstream library put in it; only its class
        # is logged, and the caller learns nothing but that it failed.
        log.error("unhandled_error", error_class=type(exc).__name__)
        return error_response(500, "internal error")
