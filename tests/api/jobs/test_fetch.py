"""The address guard and the video download, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from api.errors import RequestRejected, StorageFullError
from api.jobs.address_guard import UNFETCHABLE, AddressGuard
from api.jobs.fetch import UrlDownload, parse_url, pin
from api.jobs.files import UploadFiles
from tests.support.disks import small_tmpfs
from tests.support.loopback import (
    LoopbackSite,
    file_route,
    redirect_route,
    slow_route,
)

LOOPBACK_ONLY = AddressGuard(exempt=frozenset({ipaddress.ip_address("127.0.0.1")}))
VIDEO = b"\0\0\0\x18ftypmp42" + b"v" * 4000


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused_by_default(ip: str) -> None:
    assert AddressGuard().refusal(ip) is not None


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(ip: str) -> None:
    assert AddressGuard().refusal(ip) is None


def test_allow_private_opens_private_but_never_metadata() -> None:
    guard = AddressGuard(allow_private=True)
    assert guard.refusal("127.0.0.1") is None and guard.refusal("10.0.0.1") is None
    assert guard.refusal("169.254.169.254") is not None
    assert guard.refusal("fd00:ec2::254") is not None


def test_one_refused_address_among_several_refuses_the_name() -> None:
    with pytest.raises(RequestRejected) as caught:
        AddressGuard().check("mixed.example", ["93.184.216.34", "10.0.0.1"])
    assert caught.value.code == "url_not_allowed"


@pytest.mark.parametrize("raw", ["ftp://x/y.mp4", "file:///etc/passwd", "clip.mp4", "http://"])
def test_only_absolute_http_links(raw: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_url(raw)
    assert caught.value.code == "url_not_allowed"


def test_the_pinned_request_keeps_host_and_tls_name() -> None:
    pinned = pin(parse_url("https://cdn.example.com:8443/v/clip.mp4?x=1"), "93.184.216.34")
    assert str(pinned.url) == "https://93.184.216.34:8443/v/clip.mp4?x=1"
    assert pinned.headers == {"Host": "cdn.example.com:8443"}
    assert pinned.extensions == {"sni_hostname": "cdn.example.com"}


def _cut_off(handler: BaseHTTPRequestHandler) -> None:
    """Promises 100 kB, sends 1 kB, hangs up."""
    handler.send_response(200)
    handler.send_header("Content-Type", "video/mp4")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(VIDEO[:1000])
    handler.close_connection = True


@pytest.fixture(scope="module")
def site() -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    web.routes.update(
        {
            "/clip.mp4": file_route(VIDEO),
            "/chunked.mp4": file_route(VIDEO * 100, chunked=True),
            "/page": file_route(b"<!DOCTYPE html><html><body>a video</body></html>", "text/html"),
            "/disguised": file_route(b"<!doctype html><html></html>", "video/mp4"),
            "/slow.mp4": slow_route(200_000, 6.0),
            "/missing.mp4": lambda h: h.send_error(404),
            "/server-error": lambda h: h.send_error(500),
            "/cut-off": _cut_off,
        }
    )
    with web.running():
        port = web.port
        # 127.0.0.2 is loopback too (never another machine) but not exempt: a "private" target.
        web.routes["/to-private"] = redirect_route(f"http://127.0.0.2:{port}/clip.mp4")
        web.routes["/to-clip"] = redirect_route("/clip.mp4")
        web.routes["/loop"] = redirect_route("/loop")
        yield web


def _download(
    tmp_path: Path, *, max_bytes: int = 1_000_000, timeout_s: float = 10.0
) -> UrlDownload:
    return UrlDownload(UploadFiles(tmp_path / "uploads"), LOOPBACK_ONLY, max_bytes, timeout_s)


def _fails(download: UrlDownload, url: str) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        asyncio.run(download.fetch(url))
    assert list(download.files.directory.iterdir()) == []  # no partial file stays
    return caught.value


def test_a_link_is_downloaded_whole(site: LoopbackSite, tmp_path: Path) -> None:
    upload = asyncio.run(_download(tmp_path).fetch(site.url("/clip.mp4")))
    assert upload.path is not None and upload.path.read_bytes() == VIDEO
    assert (upload.size, upload.filename) == (len(VIDEO), "clip.mp4")


def test_a_redirect_to_an_allowed_address_is_followed(site: LoopbackSite, tmp_path: Path) -> None:
    upload = asyncio.run(_download(tmp_path).fetch(site.url("/to-clip")))
    assert upload.path is not None and upload.path.read_bytes() == VIDEO


def test_a_redirect_to_a_private_address_is_refused(site: LoopbackSite, tmp_path: Path) -> None:
    before = len(site.received)
    error = _fails(_download(tmp_path), site.url("/to-private"))
    assert error.code == "url_not_allowed" and "127.0.0.2" in error.message
    assert len(site.received) == before + 1  # the redirect target was never asked


def test_endless_redirects_stop(site: LoopbackSite, tmp_path: Path) -> None:
    assert _fails(_download(tmp_path), site.url("/loop")).code == "url_fetch_failed"


def test_a_private_first_hop_is_refused_before_connecting(tmp_path: Path) -> None:
    download = UrlDownload(UploadFiles(tmp_path / "uploads"), AddressGuard(), 1000, 5.0)
    assert _fails(download, "http://127.0.0.1:9/clip.mp4").code == "url_not_allowed"
    assert _fails(download, "http://localhost:9/clip.mp4").code == "url_not_allowed"


def test_a_web_page_asks_for_a_direct_video_link(site: LoopbackSite, tmp_path: Path) -> None:
    for path in ("/page", "/disguised"):
        error = _fails(_download(tmp_path), site.url(path))
        assert error.code == "not_a_video_link" and "direct link" in error.message


def test_too_large_is_cut_off_while_streaming(site: LoopbackSite, tmp_path: Path) -> None:
    error = _fails(_download(tmp_path, max_bytes=100_000), site.url("/chunked.mp4"))
    assert error.code == "upload_too_large"
    declared = _fails(_download(tmp_path, max_bytes=1000), site.url("/clip.mp4"))
    assert declared.code == "upload_too_large"


def test_a_slow_download_is_cut_off_by_the_time_limit(site: LoopbackSite, tmp_path: Path) -> None:
    error = _fails(_download(tmp_path, timeout_s=1.0), site.url("/slow.mp4"))
    assert error.code == "url_timeout"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe socket goes


@pytest.mark.parametrize(
    "target",
    ["/missing.mp4", "/server-error", "/loop", "closed-port", "unresolvable", "/cut-off"],
)
def test_a_link_that_cannot_be_fetched_gets_one_answer(
    site: LoopbackSite, tmp_path: Path, target: str
) -> None:
    """Closed port, HTTP error, endless redirects, unknown name: no way to tell them apart."""
    url = {
        "closed-port": f"http://127.0.0.1:{_closed_port()}/v.mp4",
        "unresolvable": "http://no-such-host.invalid/v.mp4",
    }.get(target, site.url(target))
    error = _fails(_download(tmp_path), url)
    assert (error.code, error.message) == ("url_fetch_failed", UNFETCHABLE)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only; skipped elsewhere)."""
    with small_tmpfs(tmp_path / "disk", "64k") as mount:
        yield mount


def test_a_full_disk_while_saving_is_a_storage_error(site: LoopbackSite, small_disk: Path) -> None:
    download = UrlDownload(UploadFiles(small_disk / "uploads"), LOOPBACK_ONLY, 10**7, 10.0)
    with pytest.raises(StorageFullError) as caught:
        asyncio.run(download.fetch(site.url("/chunked.mp4")))  # 400 KB onto 64 KiB
    assert caught.value.code == "insufficient_storage" and "disk full" in caught.value.message
    assert list(download.files.directory.iterdir()) == []  # no partial file stays
