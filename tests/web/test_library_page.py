"""The job view's metrics and similar videos, in the real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzers.testing.library_clips import reencode
from analyzers.testing.story_clips import make_story_video
from tests.support.serverproc import ServerProcess, post_video
from tests.web.test_page import PHONE, WIDE, Page


def test_the_job_view_shows_metrics_and_links_its_reupload(
    browser: Any, open_server: ServerProcess, artifacts: Path, tmp_path: Path
) -> None:
    original, _ = make_story_video(
        tmp_path / "original.mp4", width=96, height=160, duration_s=3.0, cuts=(1.5,), seed=2
    )
    copy = reencode(original, tmp_path / "copy.mp4", 64, 106)
    with open_server.client() as client:
        ids = [post_video(client, p, frames=3).json()["id"] for p in (original, copy)]
    page = Page(browser, open_server, artifacts)
    page.open_app()
    view = f'#jobs li[data-id="{ids[0]}"] button'
    page.wait(lambda: page.visible(view), "the original's row")
    page.find(view).click()
    page.wait(lambda: page.visible(".metrics"), "the metrics")
    labels = [e.text for e in page.all(".metrics th")]
    assert labels[:3] == ["Cuts per minute", "Mean shot", "First cut"] and "First 3 s" in labels
    assert page.all(".metrics td")[2].text == "1.5 s"
    page.wait(lambda: page.all(".similar a"), "the similar videos")
    link = page.find(".similar a")
    assert link.text == ids[1] and "same video" in page.find(".similar li").text
    page.screenshot("similar-wide", WIDE)
    page.screenshot("similar-phone", PHONE)
    link.click()
    page.wait(lambda: "copy.mp4" in page.find("#result-heading").text, "the re-upload opened")
    page.wait(lambda: ids[0] in [a.text for a in page.all(".similar a")], "the link back")
    page.assert_every_request_ok_and_local()
    page.assert_clean_console()
