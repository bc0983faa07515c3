"""ASGI guards a browser needs: allowed Host headers, same-origin writes, security headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ForbiddenOriginError, InvalidHostError
from api.http.errors import error_reply
from api.settings import Settings

#: methods that change state: a page on another origin must not send them with our cookie
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: the page, the static files and the API: no inline script or style, no framing
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
#: /docs and /redoc: still no inline script, but ReDoc writes its styles as <style> elements
#: at run time and builds its search index in a blob: worker
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP level 2
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of one request header, or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(host: str) -> str:
    """The name part of a Host header, lower case: ``[::1]:8003`` -> ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The Host names to accept; None when any is (``*``)."""
    configured = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    if "*" in configured:
        return None
    # Always answered: a rebinding page has a name of its own, never one of these (and the
    # local health check must not lock itself out when a list is set).
    bind = settings.host.strip().lower()
    names = {"localhost", "127.0.0.1", "[::1]", f"[{bind}]" if ":" in bind else bind}
    public = urlsplit(settings.public_url).netloc.rpartition("@")[2]
    return frozenset(host_name(h) for h in [*names, public, *configured] if h)


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an origin or URL, default ports filled in; None if unusable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return None
    if not parts.hostname or parts.scheme.lower() not in _DEFAULT_PORTS:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


class HostGuard:
    """Only configured Host names reach the app: a DNS-rebound name gets 400 invalid_host."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            # HTTP/1.1 requires Host; a request without one is not a browser's.
            host = header(scope, b"host")
            if host is not None and host_name(host) not in self.hosts:
                refusal = InvalidHostError("this server does not answer to that Host name")
                await error_reply(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class OriginGuard:
    """A browser's write from another origin gets 403 forbidden_origin.

    The page's own origin (the request's scheme and Host) and ``PUBLIC_URL``'s pass;
    requests without ``Origin`` or ``Sec-Fetch-Site`` (curl, scripts, SDKs) pass.
    """

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public = origin_of(public_url) if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS and self._foreign(scope):
            refusal = ForbiddenOriginError("requests from another site's page are not accepted")
            await error_reply(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _foreign(self, scope: Scope) -> bool:
        origin = header(scope, b"origin")
        fetch_site = (header(scope, b"sec-fetch-site") or "").strip().lower()
        if origin is None:
            # Browsers send Origin on every write; this covers one that would not.
            return fetch_site in ("same-site", "cross-site")
        if fetch_site == "same-origin":
            return False  # the browser's own word: a proxy may have changed scheme or Host
        given = origin_of(origin)  # "null" (sandboxed frames, file: pages) gives None
        own = origin_of(f"{scope.get('scheme', 'http')}://{header(scope, b'host') or ''}")
        return given is None or given not in (own, self.public)


class SecurityHeaders:
    """CSP, nosniff, Referrer-Policy and no framing on every answer (routes may set a CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {key.lower() for key, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", STRICT_CSP.encode()))
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
