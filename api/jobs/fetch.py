"""Outbound HTTP made safe: pinned connections through the address guard, and the download.

Every outbound request (a video link, a completion callback) resolves the name
itself, checks every address it got, and connects to the checked one: a DNS
answer that changes between the check and the connect (rebinding) cannot steer
the request elsewhere. Redirects are followed by hand, each hop checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

import httpx

from api.errors import RequestRejected, shorten
from api.jobs.address_guard import AddressGuard, unfetchable
from api.jobs.files import UploadFiles
from api.jobs.multipart import Upload, as_rejection

#: redirects followed before giving up
MAX_REDIRECTS = 5
#: a web page announces itself in its first bytes even with a wrong Content-Type
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<!--")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Pinned:
    """One request to a checked address: the URL to send, its Host header and SNI name."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


def parse_url(raw: str, what: str = "url") -> httpx.URL:
    """An absolute http(s) URL with a host, or RequestRejected naming the problem."""
    text = raw.strip()
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise RequestRejected("url_not_allowed", f"{what} is not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise RequestRejected("url_not_allowed", f"{what} must be an http or https link")
    if not url.host:
        raise RequestRejected("url_not_allowed", f"{what} has no host name")
    return url


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos]


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def pin(url: httpx.URL, ip: str) -> Pinned:
    """The request for ``url`` sent to ``ip``: same path, Host and TLS name as the original."""
    headers = {"Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return Pinned(url.copy_with(host=ip), headers, extensions)


async def resolve(url: httpx.URL, guard: AddressGuard) -> Pinned:
    """Resolve and check ``url`` without blocking the event loop; the pinned request."""
    if _literal(url.host) is not None:
        return resolve_blocking(url, guard)
    # What loop.getaddrinfo does too: the lookup in the loop's default executor.
    return await asyncio.get_running_loop().run_in_executor(None, resolve_blocking, url, guard)


def resolve_blocking(url: httpx.URL, guard: AddressGuard) -> Pinned:
    """Resolve and check ``url`` in this thread (it blocks); the pinned request."""
    literal = _literal(url.host)
    if literal is not None:
        return pin(url, guard.check(url.host, [literal]))
    try:
        infos = socket.getaddrinfo(url.host, _port(url), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise unfetchable(f"cannot resolve {shorten(url.host)}: {exc}") from None
    return pin(url, guard.check(url.host, _addresses(infos)))


def _is_html(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in _HTML_TYPES


def _page_error() -> RequestRejected:
    return RequestRejected(
        "not_a_video_link",
        "the link leads to a web page, not a video file: give a direct link to the video "
        "file (a TikTok page link will not do; download the video or use its file URL)",
    )


def _filename(url: httpx.URL) -> str | None:
    name = unquote(url.path.rsplit("/", 1)[-1])
    return name[:255] or None


class UrlDownload:
    """Downloads one video link to a fresh spool file, within the size cap and time limit."""

    def __init__(
        self, files: UploadFiles, guard: AddressGuard, max_bytes: int, timeout_s: float
    ) -> None:
        self.files, self.guard = files, guard
        self.max_bytes, self.timeout_s = max_bytes, timeout_s

    async def fetch(
        self,
        raw_url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Upload:
        """The spooled video; RequestRejected for a refused, failed, too big or too slow link.

        ``headers`` go with the request (what a page link's media needs, cookies among them);
        ``timeout_s`` is the time left when a page's extraction used some of the limit.
        """
        url = parse_url(raw_url)
        path = self.files.new_path()
        try:
            size, final = await asyncio.wait_for(
                self._follow(url, path, dict(headers or {})),
                self.timeout_s if timeout_s is None else max(timeout_s, 0.0),
            )
        except asyncio.TimeoutError:
            path.unlink(missing_ok=True)
            raise RequestRejected(
                "url_timeout",
                f"the download did not finish within {self.timeout_s:g} s",
            ) from None
        except BaseException:
            path.unlink(missing_ok=True)  # refused, failed or cancelled: no partial file stays
            raise
        return Upload(path=path, filename=_filename(final), size=size)

    async def _follow(
        self, url: httpx.URL, path: Path, extra: dict[str, str]
    ) -> tuple[int, httpx.URL]:
        timeout = httpx.Timeout(self.timeout_s)
        # trust_env=False: a proxy would connect for us and defeat the address check.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                pinned = await resolve(url, self.guard)
                request = client.build_request(
                    "GET",
                    pinned.url,
                    headers={**extra, **pinned.headers},
                    extensions=pinned.extensions,
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise unfetchable(f"cannot fetch {shorten(url.host)}: {exc!r}") from None
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        target = parse_url(str(url.join(response.headers["location"])), "redirect")
                        if target.host != url.host:  # the page's cookies are not for another host
                            extra = {k: v for k, v in extra.items() if k.lower() != "cookie"}
                        url = target
                        continue
                    return await self._save(response, path), url
                finally:
                    await response.aclose()
        raise unfetchable(f"more than {MAX_REDIRECTS} redirects")

    async def _save(self, response: httpx.Response, path: Path) -> int:
        if response.status_code != 200:
            raise unfetchable(f"the link answered HTTP {response.status_code}")
        if _is_html(response.headers.get("content-type", "")):
            raise _page_error()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        try:
            with open(path, "wb") as out:
                return await self._stream(response, out)
        except httpx.HTTPError as exc:
            raise unfetchable(f"the download broke off: {exc!r}") from None
        except OSError as exc:
            raise as_rejection(exc) from None  # a full disk is a 507, as for an upload

    async def _stream(self, response: httpx.Response, out: BinaryIO) -> int:
        size = 0
        async for chunk in response.aiter_bytes():
            if size == 0 and chunk.lstrip()[:14].lower().startswith(_HTML_STARTS):
                raise _page_error()
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            out.write(chunk)
        if size == 0:
            raise RequestRejected("empty_file", "the link gave an empty file")
        return size

    def _too_large(self) -> RequestRejected:
        limit_mb = self.max_bytes / (1024 * 1024)
        return RequestRejected(
            "upload_too_large", f"the linked file is larger than the {limit_mb:g} MB upload limit"
        )
