"""ASGI middleware: the API key check, the request metrics and OPTIONS."""

from __future__ import annotations

import hmac
import time
from typing import Any

import anyio.to_thread
from fastapi.responses import JSONResponse, Response
from starlette.requests import cookie_parser
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analyzers.errors import AnalyzerError
from api.http.errors import error_reply
from api.http.sessions import SessionStore
from api.http.throttle import FailureThrottle, client_address
from monitoring.metrics import ServiceMetrics

#: paths that never need the API key: the liveness probe must work for anyone local, and
#: the web page's shell and session check hold no data (the page asks for the key itself)
OPEN_PATHS = frozenset({"/health/live", "/", "/favicon.ico", "/session"})
#: public prefixes: the page's script, style and icons, and the vendored docs assets
OPEN_PREFIXES = ("/static/",)
#: the web page's session cookie (HttpOnly, SameSite=Strict), set by POST /session
SESSION_COOKIE = "tiktok_analyzer_session"


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def given_key(headers: dict[str, bytes]) -> bytes:
    """The key a request sends in X-API-Key or Authorization: Bearer (empty if none)."""
    given = headers.get("x-api-key", b"")
    auth = headers.get("authorization", b"")
    if not given and auth[:7].lower() == b"bearer ":
        given = auth[7:].strip()
    return given


class ApiKeyMiddleware:
    """Every data path needs X-API-Key, Authorization: Bearer or a live session cookie.

    Wrong keys count against the client's address (``throttle``): past the limit, keys
    from there get 429 whether right or wrong, so guessing learns nothing.
    """

    def __init__(
        self, app: ASGIApp, key: str, sessions: SessionStore, throttle: FailureThrottle
    ) -> None:
        self.app, self.key = app, key.encode()
        self.sessions, self.throttle = sessions, throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            allowed = await self._allowed(scope)
        except AnalyzerError as refusal:
            await error_reply(refusal)(scope, receive, send)
            return
        if allowed:
            await self.app(scope, receive, send)
            return
        body = {"error": {"code": "unauthorized", "message": "missing or wrong API key"}}
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    async def _allowed(self, scope: Scope) -> bool:
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        given = given_key(headers)
        if given:
            client = client_address(scope)
            self.throttle.check(client)
            if hmac.compare_digest(given, self.key):
                return True
            self.throttle.fail(client)
            return False
        # <img> and downloads from the page carry only the cookie.
        token = cookie(headers, SESSION_COOKIE)
        return bool(token) and await anyio.to_thread.run_sync(self.sessions.valid, token)


def cookie(headers: dict[str, bytes], name: str) -> str:
    """One cookie's value from the Cookie header ('' if absent)."""
    raw = headers.get("cookie")
    if not raw:
        return ""
    # Starlette's parser, as GET /session uses: SimpleCookie drops the whole header when
    # any other cookie holds a space or JSON, and the page would then loop on its login.
    return cookie_parser(raw.decode("latin-1")).get(name, "")


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
