"""The FastAPI app factory: state, middleware (API key, metrics), JSON errors, OpenAPI."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analyzers.errors import AnalyzerError
from api import __version__
from api.http_errors import ApiError, error_response, status_for
from api.jobs import JobStore
from api.routes import router
from api.routes_ops import router as ops_router
from api.sdnotify import Liveness
from api.settings import Settings
from api.supervisor import Supervisor
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.app")

#: paths that never need the API key: the liveness probe must work for anyone local
OPEN_PATHS = frozenset({"/health/live"})


class JobWaiters:
    """Lets POST /analyze?wait=true sleep until the supervisor finishes its job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[asyncio.Event]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def register(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._events.setdefault(job_id, []).append(event)
        return event

    def unregister(self, job_id: str, event: asyncio.Event) -> None:
        with self._lock:
            events = self._events.get(job_id, [])
            if event in events:
                events.remove(event)
            if not events:
                self._events.pop(job_id, None)

    def notify(self, job_id: str) -> None:
        """From any thread: wake whoever waits for job_id."""
        with self._lock:
            events = list(self._events.get(job_id, []))
        if self.loop is not None:
            for event in events:
                self.loop.call_soon_threadsafe(event.set)

    def notify_all(self) -> None:
        with self._lock:
            ids = list(self._events)
        for job_id in ids:
            self.notify(job_id)


@dataclass
class AppContext:
    """Everything a route needs, reachable as request.app.state.ctx."""

    settings: Settings
    supervisor: Supervisor
    store: JobStore
    metrics: ServiceMetrics
    liveness: Liveness
    waiters: JobWaiters = field(default_factory=JobWaiters)
    started_at: float = field(default_factory=time.time)


class ApiKeyMiddleware:
    """Every path but /health/live needs X-API-Key or Authorization: Bearer (constant time)."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        given = headers.get("x-api-key", b"")
        auth = headers.get("authorization", b"")
        if not given and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if given and hmac.compare_digest(given, self.key):
            await self.app(scope, receive, send)
            return
        body = {"error": {"code": "unauthorized", "message": "missing or wrong API key"}}
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class MetricsMiddleware:
    """Counts every answered request by route template (not raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Any) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = self._route(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        matched = scope.get("route")
        if matched is not None:
            return str(getattr(matched, "path", "unmatched"))
        # Refused before routing (401): find the template without running the route.
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"


def create_app(
    settings: Settings,
    supervisor: Supervisor,
    store: JobStore,
    metrics: ServiceMetrics,
    liveness: Liveness | None = None,
) -> FastAPI:
    """Build the HTTP app around an already constructed supervisor and job store."""
    ctx = AppContext(settings, supervisor, store, metrics, liveness or Liveness())
    supervisor.add_listener(ctx.waiters.notify)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.waiters.loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(_tick_forever(ctx.liveness))
        try:
            yield
        finally:
            ticker.cancel()

    app = FastAPI(
        title="tiktok-analyzer",
        version=__version__,
        description=(
            "Turns short portrait videos into multi-aspect text descriptions with BLIP-2. "
            'Every error body is `{"error": {"code": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.include_router(router)
    app.include_router(ops_router)
    _install_error_handlers(app)
    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key.get_secret_value())
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


async def _tick_forever(liveness: Liveness) -> None:
    # Proves to the systemd watchdog that the event loop still turns.
    while True:
        liveness.tick_event_loop()
        await asyncio.sleep(0.5)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.job_id)

    @app.exception_handler(AnalyzerError)
    async def analyzer_error(request: Request, exc: AnalyzerError) -> JSONResponse:
        return error_response(status_for(exc.code), exc.code, exc.message)

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


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    if settings.api_key is not None and settings.api_key.get_secret_value():
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerAuth": {"type": "http", "scheme": "bearer"},
        }
        schema["security"] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
        unauthorized = {
            "description": "Missing or wrong API key",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if path in OPEN_PATHS:
                    operation["security"] = []
                else:
                    operation.setdefault("responses", {})["401"] = unauthorized
    app.openapi_schema = json.loads(json.dumps(schema))
    return app.openapi_schema
