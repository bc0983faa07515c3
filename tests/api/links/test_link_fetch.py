"""Page links fetched for real: yt-dlp's generic extractor against pages served on loopback.

The address guard's exemption stands in for "public" here: 127.0.0.1 is exempt, any
other loopback address (127.0.0.2) counts as private, so both the page host and the
media host are checked without any traffic leaving the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UnsupportedError

from analyzers.schema import Source
from api.errors import RequestRejected
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import UrlDownload
from api.jobs.files import UploadFiles
from api.jobs.multipart import Upload
from api.links import guarded_handler
from api.links.failures import link_failure
from api.links.link_fetch import LinkFetcher
from tests.support.loopback import (
    LoopbackSite,
    Route,
    file_route,
    redirect_route,
    send,
    slow_route,
)

VIDEO = b"\0\0\0\x18ftypmp42" + b"\0" * 20_000
EXEMPT = AddressGuard(exempt=frozenset({ipaddress.ip_address("127.0.0.1")}))


def og_page(video_url: str, title: str = "Pasta in 60 s") -> bytes:
    return (
        "<!DOCTYPE html><html><head><title>ignored</title>"
        f'<meta property="og:title" content="{title}">'
        '<meta property="og:description" content="quick dinner #pasta #food">'
        f'<meta property="og:video" content="{video_url}">'
        '<meta property="og:video:type" content="video/mp4">'
        "</head><body></body></html>"
    ).encode()


def _then(body: bytes, later: Route) -> Route:
    """The page on the first GET (the file check), ``later`` on the extractor's GETs."""
    calls = [0]

    def route(handler: BaseHTTPRequestHandler) -> None:
        calls[0] += 1
        with contextlib.suppress(OSError):  # the client gave up waiting
            send(handler, 200, body, "text/html") if calls[0] == 1 else later(handler)

    return route


def _hang(seconds: float, then: Route) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        then(handler)

    return route


@pytest.fixture(scope="module")
def site() -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    media = web.url("/clip.mp4")
    web.routes.update(
        {
            "/clip.mp4": file_route(VIDEO),
            "/og": file_route(og_page(media), "text/html"),
            "/tag": file_route(
                f'<html><head><title>Tagged</title></head><body><video src="{media}">'
                "</video></body></html>".encode(),
                "text/html",
            ),
            "/moved": redirect_route("/og"),
            "/empty": file_route(b"<!DOCTYPE html><html><body>no video</body></html>", "text/html"),
            "/private-media": file_route(
                og_page(web.url("/clip.mp4", host="127.0.0.2")), "text/html"
            ),
            "/to-private": file_route(og_page(web.url("/moved-private.mp4")), "text/html"),
            "/moved-private.mp4": redirect_route(web.url("/clip.mp4", host="127.0.0.2")),
            "/page-to-private": _then(og_page(media), redirect_route(web.url("/og", "127.0.0.2"))),
            "/big-media": file_route(og_page(web.url("/big.mp4")), "text/html"),
            "/big.mp4": file_route(b"\0" * 300_000, chunked=True),
            "/slow-media": file_route(og_page(web.url("/slow.mp4")), "text/html"),
            "/slow.mp4": slow_route(100_000, 10.0),
            "/slow-page": _then(og_page(media), _hang(10.0, file_route(og_page(media)))),
            "/huge-page": file_route(og_page(media) + b" " * 5000, "text/html"),
        }
    )
    with web.running():
        yield web


def _fetch(
    tmp_path: Path,
    url: str,
    sites: tuple[str, ...] = ("generic",),
    guard: AddressGuard | None = None,
    timeout_s: float = 10.0,
) -> tuple[Upload, Source]:
    guard = guard or AddressGuard(allow_private=True)
    download = UrlDownload(UploadFiles(tmp_path), guard, 200_000, timeout_s)
    return asyncio.run(LinkFetcher(download, guard, sites).fetch(url))


def _refusal(tmp_path: Path, url: str, **kwargs: object) -> RequestRejected:
    spool = tmp_path / "refused"
    spool.mkdir(exist_ok=True)
    with pytest.raises(RequestRejected) as caught:
        _fetch(spool, url, **kwargs)  # type: ignore[arg-type]
    assert not any(spool.iterdir()), "no partial file stays"
    return caught.value


@pytest.mark.parametrize("path", ["/og", "/moved"])
def test_an_open_graph_page_gives_its_video_and_source(
    tmp_path: Path, site: LoopbackSite, path: str
) -> None:
    upload, source = _fetch(tmp_path, site.url(path))
    assert upload.path is not None and upload.path.read_bytes() == VIDEO
    assert (source.url, source.site, source.title) == (site.url(path), "generic", "Pasta in 60 s")
    assert (source.description, source.hashtags) == ("quick dinner #pasta #food", ["pasta", "food"])


def test_a_video_element_is_found(tmp_path: Path, site: LoopbackSite) -> None:
    upload, source = _fetch(tmp_path, site.url("/tag"))
    assert upload.size == len(VIDEO)
    assert source.site == "generic" and source.title and "Tagged" in source.title


def test_a_file_link_has_a_source_with_its_url_only(tmp_path: Path, site: LoopbackSite) -> None:
    _, source = _fetch(tmp_path, site.url("/clip.mp4?sig=abc"), sites=())
    assert source == Source(url=site.url("/clip.mp4?sig=***"))


@pytest.mark.parametrize("sites", [("tiktok", "instagram", "youtube"), ()])
def test_a_page_is_refused_without_generic(
    tmp_path: Path, site: LoopbackSite, sites: tuple[str, ...]
) -> None:
    refusal = _refusal(tmp_path, site.url("/og"), sites=sites)
    assert (refusal.code, refusal.status) == ("not_a_video_link", 415)
    assert ("tiktok, instagram, youtube" if sites else "none") in refusal.message


def test_a_page_without_video_is_refused(tmp_path: Path, site: LoopbackSite) -> None:
    refusal = _refusal(tmp_path, site.url("/empty"))
    assert (refusal.code, refusal.status) == ("not_a_video_link", 415)


def test_the_page_host_is_guarded(tmp_path: Path, site: LoopbackSite) -> None:
    refusal = _refusal(tmp_path, site.url("/og"), guard=AddressGuard())
    assert refusal.code == "url_not_allowed"


@pytest.mark.parametrize("path", ["/private-media", "/to-private", "/page-to-private"])
def test_a_private_media_host_or_redirect_is_refused(
    tmp_path: Path, site: LoopbackSite, path: str
) -> None:
    assert _fetch(tmp_path, site.url("/og"), guard=EXEMPT)[0].size == len(VIDEO)
    refusal = _refusal(tmp_path, site.url(path), guard=EXEMPT)
    assert refusal.code == "url_not_allowed" and "127.0.0.2" in refusal.message


def test_the_size_cap_holds_for_the_media(tmp_path: Path, site: LoopbackSite) -> None:
    assert _refusal(tmp_path, site.url("/big-media")).code == "upload_too_large"


def test_the_size_cap_holds_for_the_page(
    tmp_path: Path, site: LoopbackSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guarded_handler, "MAX_PAGE_BYTES", 4096)
    assert _refusal(tmp_path, site.url("/huge-page")).code == "url_fetch_failed"


@pytest.mark.parametrize("path", ["/slow-page", "/slow-media"])
def test_the_time_limit_covers_extraction_and_download(
    tmp_path: Path, site: LoopbackSite, path: str
) -> None:
    started = time.monotonic()
    refusal = _refusal(tmp_path, site.url(path), timeout_s=1.5)
    assert refusal.code == "url_timeout"
    assert time.monotonic() - started < 4.0


def _download_error(inner: Exception) -> DownloadError:
    try:
        raise inner
    except Exception as exc:
        return DownloadError(str(exc), sys.exc_info())


@pytest.mark.parametrize(
    ("inner", "code", "says"),
    [
        (
            ExtractorError(
                "This post is private. Use --cookies-from-browser or --cookies for the "
                "authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ",
                expected=True,
            ),
            "link_unavailable",
            "the post cannot be fetched: This post is private",
        ),
        (GeoRestrictedError("Video not available in your country"), "link_unavailable", "region"),
        (ExtractorError("Unable to extract universal data"), "link_unavailable", "update yt-dlp"),
        (UnsupportedError("https://example.com/x"), "not_a_video_link", "no video"),
    ],
)
def test_yt_dlp_errors_become_clean_refusals(inner: Exception, code: str, says: str) -> None:
    refusal = link_failure(_download_error(inner), None, ("generic",), 10.0)
    assert (refusal.code, refusal.status) == (code, 422 if code == "link_unavailable" else 415)
    assert says in refusal.message
    assert "--cookies" not in refusal.message
