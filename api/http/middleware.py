"""ASGI middleware: the API key check and the request metrics."""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitoring.metrics import ServiceMetrics

#: paths that never need the API key: the liveness probe must work for anyone local
OPEN_PATHS = frozenset({"/health/live"})


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


class OptionsMiddleware:
    """OPTIONS on any route path answers 204 with the methods that path allows."""

    def __init__(self, app: ASGIApp, routes: Any) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        # Ask the routes which methods match fully (routers nest, so no method lists).
        allowed = {
            method
            for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            for route in self.routes
            if route.matches({**scope, "method": method})[0] == Match.FULL
        }
        if not allowed:
            await self.app(scope, receive, send)  # the usual 404
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
