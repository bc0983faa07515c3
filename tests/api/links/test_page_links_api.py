"""Page links through the real service: a loopback page analysed, its ``source`` in the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.links.test_link_fetch import og_page
from tests.support.loopback import LoopbackSite, file_route, redirect_route
from tests.support.serverproc import ServerProcess, post_video


@pytest.fixture(scope="module")
def site(tiny_video: Path) -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    media = web.url("/clip.mp4")
    web.routes.update(
        {
            "/clip.mp4": file_route(tiny_video.read_bytes()),
            "/og": file_route(og_page(media, "Pasta in 60 s"), "text/html"),
            "/tag": file_route(
                f'<html><head><title>Tagged</title></head><body><video src="{media}">'
                "</video></body></html>".encode(),
                "text/html",
            ),
            "/moved": redirect_route("/og"),
        }
    )
    with web.running():
        yield web


@pytest.fixture(scope="module")
def links_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """Any page with a video (generic), from the test's own loopback site."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-links"),
        tiny_model_dir,
        workers=1,
        link_sites="generic",
        url_allow_private="true",
        url_timeout_s=20,
    )
    with srv.running():
        yield srv


@pytest.mark.parametrize(
    ("path", "title"), [("/og", "Pasta in 60 s"), ("/moved", "Pasta in 60 s"), ("/tag", "Tagged")]
)
def test_a_page_link_is_analysed_with_its_source(
    links_server: ServerProcess, site: LoopbackSite, path: str, title: str
) -> None:
    url = site.url(path) + "?token=s3cret"
    with links_server.client() as client:
        response = client.post("/analyze", data={"url": url, "frames": "1"})
        assert response.status_code == 200, response.text
        job = response.json()
        exported = client.get(f"/jobs/{job['id']}/export", params={"format": "md"}).text
    source = job["result"]["source"]
    assert job["status"] == "done" and job["result"]["frames"]
    assert source["url"] == site.url(path) + "?token=***"
    assert source["site"] == "generic" and title in source["title"]
    if path != "/tag":
        assert source["hashtags"] == ["pasta", "food"]
        assert "## Source" in exported and "quick dinner" in exported
    assert "s3cret" not in response.text


def test_an_upload_has_no_source(links_server: ServerProcess, tiny_video: Path) -> None:
    with links_server.client() as client:
        response = post_video(client, tiny_video, frames=1)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["source"] is None


def test_info_names_the_link_sites_and_yt_dlp(links_server: ServerProcess) -> None:
    with links_server.client() as client:
        info = client.get("/info").json()
    assert info["link_sites"] == ["generic"]
    assert info["yt_dlp_version"] == "2026.11.23"
