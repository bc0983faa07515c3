"""The routes behind the page, over plain HTTP: session cookie, /board's ETag, /info."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.serverproc import ServerProcess, post_video, wait_final
from tests.web.conftest import API_KEY

COOKIE = "tiktok_analyzer_session"


def test_the_page_and_its_assets_are_public_and_data_is_not(keyed_server: ServerProcess) -> None:
    url = keyed_server.url
    page = httpx.get(url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js?v=" in page.text and "__ASSETS__" not in page.text
    for path in (
        "/static/app.js",
        "/static/library.js",
        "/static/app.css",
        "/favicon.ico",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
    ):
        assert httpx.get(url + path).status_code == 200, path
    for path in ("/info", "/board", "/jobs", "/jobs/x/similar", "/docs", "/redoc", "/openapi.json"):
        response = httpx.get(url + path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
    assert httpx.get(url + "/session").json() == {"key_required": True, "authenticated": False}
    assert httpx.head(url + "/").status_code == 200
    options = httpx.options(url + "/static/app.js")
    assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS"
    missing = httpx.get(url + "/static/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_checked_key_becomes_an_httponly_cookie_that_opens_the_data(
    keyed_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=keyed_server.url) as browser:
        wrong = browser.post("/session", json={"api_key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        assert COOKIE not in browser.cookies
        right = browser.post("/session", json={"api_key": API_KEY})
        assert right.status_code == 200 and right.json()["authenticated"] is True
        header = right.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=strict" in header and API_KEY not in header
        assert browser.get("/session").json() == {"key_required": True, "authenticated": True}
        assert browser.get("/info").status_code == 200
        assert browser.get("/jobs").status_code == 200
        assert browser.get("/docs").status_code == 200
        browser.delete("/session")
        assert browser.get("/info").status_code == 401
    forged = httpx.get(keyed_server.url + "/info", cookies={COOKIE: "0" * 64})
    assert forged.status_code == 401


def test_info_shows_the_limits_and_the_model(open_server: ServerProcess) -> None:
    info = httpx.get(open_server.url + "/info").json()
    assert info["max_upload_bytes"] == 1024 * 1024
    assert info["max_frames"] == 4 and info["default_frames"] == 3
    assert info["model"]["test_model"] is True
    assert "camera" in info["aspects"]
    assert info["asr_model"] == "small"  # the default speech model, as the workers name it
    assert (
        info["ocr_engine"].startswith(("rapidocr: PP-OCR", "tesseract: ")) or not info["ocr_engine"]
    )
    session = httpx.get(open_server.url + "/session").json()
    assert session == {"key_required": False, "authenticated": True}


def test_board_answers_304_until_a_job_changes(
    open_server: ServerProcess, web_videos: dict[str, Path]
) -> None:
    with open_server.client() as client:
        first = client.get("/board")
        etag = first.headers["etag"]
        assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
        again = client.get("/board", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        job = post_video(client, web_videos["city"], params={"wait": "false"}).json()
        wait_final(client, job["id"])
        changed = client.get("/board", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        row = next(j for j in changed.json()["jobs"] if j["id"] == job["id"])
        assert row["status"] == "done" and row["queue_position"] is None
        assert row["realtime_factor"] > 0 and row["result"] is None
