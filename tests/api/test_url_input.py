"""POST /analyze with a video link instead of a file, against a real server and a loopback site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback import LoopbackSite, file_route, slow_route
from tests.support.serverproc import ServerProcess, post_video, wait_final


@pytest.fixture(scope="module")
def site(tiny_video: Path) -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    web.routes.update(
        {
            "/clip.mp4": file_route(tiny_video.read_bytes()),
            "/big.mp4": file_route(b"\0" * (3 * 1024 * 1024), chunked=True),
            "/slow.mp4": slow_route(400_000, 30.0),
            "/watch": file_route(b"<!DOCTYPE html><html><body>video</body></html>", "text/html"),
            "/notes.mp4": file_route(b"just some text, not a video\n" * 20),
        }
    )
    with web.running():
        yield web


@pytest.fixture(scope="module")
def open_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """Private addresses allowed: it may fetch from the test's own loopback site."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-url-open"),
        tiny_model_dir,
        workers=1,
        max_upload_mb=1,
        url_timeout_s=2,
        url_allow_private="true",
    )
    with srv.running():
        yield srv


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """Default settings; refusals happen at intake, so the workers need not be ready."""
    srv = ServerProcess(tmp_path_factory.mktemp("server-url-guarded"), tiny_model_dir, workers=1)
    with srv.running(ready=False):
        yield srv


def _no_spooled_files(srv: ServerProcess) -> bool:
    return not srv.uploads_dir.is_dir() or not any(srv.uploads_dir.iterdir())


def test_a_video_link_is_analysed(open_server: ServerProcess, site: LoopbackSite) -> None:
    url = site.url("/clip.mp4")
    with open_server.client() as client:
        response = client.post("/analyze", data={"url": url, "frames": "1"})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done" and job["result"]["frames"]
    assert (job["source_url"], job["filename"]) == (url, "clip.mp4")
    assert job["callback"] is None
    assert _no_spooled_files(open_server)


def test_a_link_in_the_query_needs_no_body(open_server: ServerProcess, site: LoopbackSite) -> None:
    with open_server.client() as client:
        response = client.post(
            "/analyze", params={"url": site.url("/clip.mp4"), "frames": 1, "wait": "false"}
        )
        assert response.status_code == 202, response.text
        assert wait_final(client, response.json()["id"])["status"] == "done"


def test_a_link_in_a_multipart_form(open_server: ServerProcess, site: LoopbackSite) -> None:
    fields = {"url": (None, site.url("/clip.mp4")), "frames": (None, "1"), "wait": (None, "false")}
    with open_server.client() as client:
        response = client.post("/analyze", files=fields)
        assert response.status_code == 202, response.text
        assert wait_final(client, response.json()["id"])["status"] == "done"


def test_file_and_url_together_are_refused(
    open_server: ServerProcess, site: LoopbackSite, tiny_video: Path
) -> None:
    with open_server.client() as client:
        response = post_video(client, tiny_video, url=site.url("/clip.mp4"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "file_and_url"
    assert _no_spooled_files(open_server)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/big.mp4", 413, "upload_too_large"),
        ("/slow.mp4", 422, "url_timeout"),
        ("/watch", 415, "not_a_video_link"),
        ("/notes.mp4", 415, "not_a_video"),
        ("/nowhere.mp4", 422, "url_fetch_failed"),
    ],
)
def test_a_bad_link_is_refused_cleanly(
    open_server: ServerProcess, site: LoopbackSite, path: str, status: int, code: str
) -> None:
    with open_server.client() as client:
        response = client.post("/analyze", data={"url": site.url(path)})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if code == "not_a_video_link":
        assert "direct link to the video" in error["message"]
    assert _no_spooled_files(open_server)  # nothing half-downloaded stays behind


def test_loopback_links_are_refused_by_default(guarded: ServerProcess, site: LoopbackSite) -> None:
    before = len(site.received)
    with guarded.client() as client:
        for url in (site.url("/clip.mp4"), site.url("/clip.mp4", host="localhost")):
            response = client.post("/analyze", data={"url": url})
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "url_not_allowed"
        metadata = client.post("/analyze", params={"url": "http://169.254.169.254/latest/"})
        assert metadata.json()["error"]["code"] == "url_not_allowed"
        scheme = client.post("/analyze", params={"url": "file:///etc/passwd"})
        assert scheme.json()["error"]["code"] == "url_not_allowed"
    assert len(site.received) == before  # the site was never asked


def test_a_private_callback_is_refused_by_default(
    guarded: ServerProcess, site: LoopbackSite, tiny_video: Path
) -> None:
    with guarded.client() as client:
        response = post_video(client, tiny_video, callback_url=site.url("/hook"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "url_not_allowed"
    assert _no_spooled_files(guarded)


def test_bad_options_are_refused_before_downloading(
    open_server: ServerProcess, site: LoopbackSite
) -> None:
    before = len(site.received)
    with open_server.client() as client:
        response = client.post("/analyze", data={"url": site.url("/clip.mp4"), "aspects": "nope"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_option"
    assert len(site.received) == before


def test_secrets_in_links_are_masked_wherever_shown_or_logged(
    open_server: ServerProcess, site: LoopbackSite
) -> None:
    """User-info and query values of the video link and the callback URL: never shown or logged."""
    site.routes["/hook"] = file_route(b"{}", "application/json")
    port = site.port
    video = f"http://alice:pw-s3cret@127.0.0.1:{port}/clip.mp4?token=tok-s3cret&Expires=1"
    hook = site.url("/hook") + "?sig=hook-s3cret"
    with open_server.client() as client:
        response = client.post(
            "/analyze",
            params={"url": video, "callback_url": hook, "frames": 1, "wait": "false"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        wait_final(client, job_id)
        shown = [
            client.get(f"/jobs/{job_id}").text,
            client.get("/jobs").text,
            client.get("/board").text,
        ]
    for text in shown:
        assert "s3cret" not in text and "alice" not in text
    job = json.loads(shown[0])
    assert job["source_url"] == f"http://***@127.0.0.1:{port}/clip.mp4?token=***&Expires=***"
    assert job["callback"]["url"] == site.url("/hook") + "?sig=***"
    assert any(path.startswith("/clip.mp4?token=tok-s3cret") for path, _, _ in site.received)
    assert "s3cret" not in open_server.log_file.read_text()
