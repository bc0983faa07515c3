"""yt-dlp's only way out: each request it makes resolved, checked by the AddressGuard, pinned.

yt-dlp's networking layer takes request handlers; this one replaces them all for
our extractions. Every request (the page, each redirect, any API call) goes to
an address the guard allowed, within the link's deadline, with a capped body.
"""

from __future__ import annotations

import email.message
import io
import time
import urllib.request
from typing import Any

import httpx
from yt_dlp.networking.common import RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, TransportError

from api.errors import RequestRejected
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import MAX_REDIRECTS, parse_url, resolve_blocking

#: largest page or API answer read during extraction (a page is far smaller than a video)
MAX_PAGE_BYTES = 8 * 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_DECODED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


class _CookieResponse:
    """What http.cookiejar reads a response's cookies from."""

    def __init__(self, headers: httpx.Headers) -> None:
        self._message = email.message.Message()
        for name, value in headers.multi_items():
            self._message[name] = value

    def info(self) -> email.message.Message:
        return self._message


class GuardedRH(RequestHandler):  # type: ignore[misc]  # yt-dlp is untyped
    """A yt-dlp request handler that connects only where the AddressGuard allows, in time."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = None  # never a proxy: it would connect for us, unchecked
    _SUPPORTED_FEATURES = None
    RH_NAME = "guarded"

    def __init__(self, *, guard: AddressGuard, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard, self.deadline = guard, deadline
        #: the guard's refusal, kept: yt-dlp wraps what a handler raises in its own errors
        self.refusal: RequestRejected | None = None
        self.timed_out = False
        self._client = httpx.Client(trust_env=False, follow_redirects=False)

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _check_proxies(self, proxies: Any) -> None:
        pass  # proxies are ignored, not refused: trust_env=False, and no proxy is ever used

    def close(self) -> None:
        self._client.close()

    def _time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            raise TransportError("the link's time limit ran out during extraction")
        return left

    def _send(self, request: Any) -> Response:
        url = parse_url(request.url, "link")
        method = request.method
        body = request.data if isinstance(request.data, bytes) else None
        headers = dict(self._merge_headers(request.headers))
        jar = request.extensions.get("cookiejar") or self.cookiejar
        for _ in range(MAX_REDIRECTS + 1):
            response, content = self._one(url, method, body, headers, jar)
            if response.status_code in _REDIRECTS and "location" in response.headers:
                url = parse_url(str(url.join(response.headers["location"])), "redirect")
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, body = "GET", None
                continue
            # The body is already decoded and whole: its encoding and length headers would lie.
            kept = {k: v for k, v in response.headers.items() if k.lower() not in _DECODED_HEADERS}
            answer = Response(io.BytesIO(content), str(url), kept, response.status_code)
            if response.status_code >= 400:
                raise HTTPError(answer)
            return answer
        raise TransportError(f"more than {MAX_REDIRECTS} redirects")

    def _one(
        self, url: httpx.URL, method: str, body: bytes | None, headers: dict[str, str], jar: Any
    ) -> tuple[httpx.Response, bytes]:
        try:
            pinned = resolve_blocking(url, self.guard)
        except RequestRejected as exc:
            self.refusal = exc
            raise TransportError(exc.message) from None
        cookie = urllib.request.Request(str(url))
        jar.add_cookie_header(cookie)
        sent = {**headers, **dict(cookie.header_items()), **pinned.headers}
        request = self._client.build_request(
            method,
            pinned.url,
            headers=sent,
            content=body,
            extensions=pinned.extensions,
            timeout=min(self.timeout, self._time_left()),
        )
        try:
            response = self._client.send(request, stream=True)
            content = self._read(response)
        except httpx.HTTPError as exc:
            self._time_left()
            raise TransportError(cause=exc) from None
        jar.extract_cookies(_CookieResponse(response.headers), cookie)
        return response, content

    def _read(self, response: httpx.Response) -> bytes:
        data = bytearray()
        try:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_PAGE_BYTES:
                    raise TransportError(f"a page larger than {MAX_PAGE_BYTES} bytes")
                self._time_left()
        finally:
            response.close()
        return bytes(data)
