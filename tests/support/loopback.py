"""A real HTTP server on 127.0.0.1 for the URL-input and callback tests (never another address)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[BaseHTTPRequestHandler], None]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer (a download cut off on purpose) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackSite:
    """Serves the routes a test registers; keeps every request body it received."""

    def __init__(self, bind: str = "127.0.0.1") -> None:
        # Another address only inside a network namespace a test made (tests.support.netns).
        self.bind = bind
        self.routes: dict[str, Route] = {}
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _dispatch(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                site.received.append((self.path, dict(self.headers.items()), body))
                route = site.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    send(self, 404, b"no such route", "text/plain")
                else:
                    route(self)

            do_GET = do_POST = _dispatch  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = _QuietServer((bind, 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.bind}:{self.port}{path}"

    def posts(self, path: str) -> list[dict[str, Any]]:
        """JSON bodies POSTed to ``path`` so far."""
        return [json.loads(b) for p, _, b in list(self.received) if p == path and b]

    @contextmanager
    def running(self) -> Iterator[LoopbackSite]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    *,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if chunked:  # no Content-Length: the size is only known by counting
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for start in range(0, len(body), 64 * 1024):
            piece = body[start : start + 64 * 1024]
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
        return
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def file_route(body: bytes, content_type: str = "video/mp4", *, chunked: bool = False) -> Route:
    return lambda h: send(h, 200, body, content_type, chunked=chunked)


def redirect_route(location: str) -> Route:
    return lambda h: send(h, 302, b"", "text/plain", headers={"Location": location})


def slow_route(total: int, seconds: float) -> Route:
    """Declares ``total`` bytes and sends them over ``seconds`` (stops when the client goes)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        steps = 20
        try:
            for _ in range(steps):
                handler.wfile.write(b"\0" * (total // steps))
                handler.wfile.flush()
                time.sleep(seconds / steps)
        except OSError:
            pass

    return route


class FlakyReceiver:
    """A callback receiver answering 500 to the first ``failures`` POSTs, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.failures
        send(handler, 500 if failing else 200, b"{}", "application/json")
