"""ASGI middleware: the API key check and the request metrics."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import cookie_parser
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitoring.metrics import ServiceMetrics

#: paths that never need the API key: the liveness probe must work for anyone local, and
#: the web page's shell and session check hold no data (the page asks for the key itself)
OPEN_PATHS = frozenset({"/health/live", "/", "/favicon.ico", "/session"})
#: public prefixes: the page's script, style and icons, and the vendored docs assets
OPEN_PREFIXES = ("/static/",)
#: the web page's session cookie (HttpOnly, SameSite=Strict), set by POST /session
SESSION_COOKIE = "tiktok_analyzer_session"


def session_token(key: str) -> str:
    """The cookie value for a key: derived from it, so the cookie never holds the key itself."""
    return hmac.new(key.encode(), b"tiktok-analyzer web session v1", hashlib.sha256).hexdigest()


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class ApiKeyMiddleware:
    """Every data path needs X-API-Key, Authorization: Bearer or the page's session cookie."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key.encode()
        self.session = session_token(key).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        given = headers.get("x-api-key", b"")
        auth = headers.get("authorization", b"")
        if not given and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        # Constant time either way; <img> and downloads from the page carry only the cookie.
        if (given and hmac.compare_digest(given, self.key)) or (
            not given and hmac.compare_digest(_cookie(headers, SESSION_COOKIE), self.session)
        ):
            await self.app(scope, receive, send)
            return
        body = {"error": {"code": "unauthorized", "message": "missing or wrong API key"}}
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def _cookie(headers: dict[str, bytes], name: str) -> bytes:
    raw = headers.get("cookie")
    if not raw:
        return b""
    # Starlette's parser, as GET /session uses: SimpleCookie drops the whole header when
    # any other cookie holds a space or JSON, and the page would then loop on its login.
    value = cookie_parser(raw.decode("latin-1")).get(name, "")
    return value.encode("latin-1", "replace")


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
            if not isinstance(route, Mount)
            and route.matches({**scope, "method": method})[0] == Match.FULL
        }
        # A mount (the static files) matches any method; it serves only these.
        if any(isinstance(r, Mount) and r.matches(scope)[0] == Match.FULL for r in self.routes):
            allowed |= {"GET", "HEAD"}
        if not allowed:
            await self.app(scope, receive, send)  # the usual 404
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
