"""The FastAPI app factory: state, middleware (guards, API key, metrics), errors, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from analyzers.errors import AnalyzerError
from api import __version__
from api.http.context import AppContext
from api.http.errors import error_reply, error_response
from api.http.guards import HostGuard, OriginGuard, SecurityHeaders, allowed_hosts
from api.http.linger import LingeringClose
from api.http.middleware import ApiKeyMiddleware, MetricsMiddleware, OptionsMiddleware
from api.http.openapi import build_openapi
from api.http.routes import ROUTERS
from api.http.routes.page import install_page
from api.http.sessions import SessionStore
from api.http.throttle import FailureThrottle
from api.sdnotify import Liveness
from api.settings import Settings

log = logging.getLogger("api.app")

#: threads the HTTP side may use for blocking work (store, probing, spooling)
HELPER_THREADS = 8


def create_app(ctx: AppContext) -> FastAPI:
    """Build the HTTP app around an already wired context (api/server.py builds it)."""
    settings, metrics = ctx.settings, ctx.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ctx.waiters.loop = loop
        # A bounded set of helper threads (store reads, probing): every new thread costs a
        # stack and a malloc arena, and an unbounded pool made the front's memory creep.
        anyio.to_thread.current_default_thread_limiter().total_tokens = HELPER_THREADS
        # The loop's default executor serves only loop.getaddrinfo (link and callback host
        # names); bounded too, for the same reason.
        loop.set_default_executor(ThreadPoolExecutor(HELPER_THREADS, "front-helper"))
        ticker = asyncio.create_task(_tick_forever(ctx.liveness))
        try:
            yield
        finally:
            ticker.cancel()
            if ctx.sessions is not None:
                ctx.sessions.close()

    app = FastAPI(
        title="tiktok-analyzer",
        version=__version__,
        description=(
            "Turns short portrait videos into multi-aspect text descriptions with BLIP-2. "
            'Every error body is `{"error": {"code": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
        # Served by routes/page.py from vendored assets: the default ones come from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    _open_access(ctx)
    for router in ROUTERS:
        app.include_router(router)
    install_page(app)
    _install_error_handlers(app)
    # Outermost last: metrics see every answer, every answer gets the security headers,
    # a foreign Host or origin is refused before the key is even looked at.
    app.add_middleware(OptionsMiddleware, routes=app.router.routes)
    if ctx.sessions is not None and settings.api_key_if_set is not None:
        app.add_middleware(
            ApiKeyMiddleware,
            key=settings.api_key_if_set,
            sessions=ctx.sessions,
            throttle=ctx.throttle,
        )
    app.add_middleware(OriginGuard, public_url=settings.public_url)
    app.add_middleware(HostGuard, hosts=allowed_hosts(settings))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(LingeringClose)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.openapi = lambda: _cached_openapi(app, settings)  # type: ignore[method-assign]
    return app


def _open_access(ctx: AppContext) -> None:
    """The wrong-key throttle, and the session table when a key is set."""
    settings = ctx.settings
    ctx.throttle = FailureThrottle(settings.auth_max_failures)
    key = settings.api_key_if_set
    if key is not None and ctx.sessions is None:
        ctx.sessions = SessionStore(
            settings.db_path, key, settings.session_idle_s, settings.session_max_age_s
        ).open()


async def _tick_forever(liveness: Liveness) -> None:
    # Proves to the systemd watchdog that the event loop still turns.
    while True:
        liveness.tick_event_loop()
        await asyncio.sleep(0.5)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AnalyzerError)
    async def analyzer_error(request: Request, exc: AnalyzerError) -> JSONResponse:
        return error_reply(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_option", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the server log")


def _cached_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if not app.openapi_schema:
        app.openapi_schema = build_openapi(app, settings)
    return app.openapi_schema
