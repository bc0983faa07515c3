"""The library on the web page: search, a hit opened at its moment, the CSV, phone width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.serverproc import ServerProcess, post_video
from tests.web.test_page import PHONE, WIDE, Page

pytest.importorskip("selenium", reason="selenium is a dev dependency (make install)")


@pytest.fixture(scope="module")
def done_job(open_server: ServerProcess, web_videos: dict[str, Path]) -> dict[str, Any]:
    """A portrait video analysed by the server (its captions are the test model's words)."""
    with open_server.client() as client:
        reply = post_video(client, web_videos["city"])
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _caption_word(job: dict[str, Any]) -> str:
    words = [w.strip(".,!?\"'") for w in job["result"]["frames"][-1]["caption"].split()]
    return max((w for w in words if w.isalnum()), key=len)


def test_search_opens_the_hit_at_its_moment(
    browser: Any, open_server: ServerProcess, artifacts: Path, done_job: dict[str, Any]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    word = _caption_word(done_job)
    page.find("#search-q").send_keys(f'"{word}"')
    page.find("#search-kind option[value=visual]").click()
    page.find("#search-form button[type=submit]").click()
    page.wait(lambda: page.all("#search-hits button.hit"), "search hits")
    mine = "#search-hits button.hit[aria-label^='Open city walk.mp4']"
    page.wait(lambda: page.all(mine), "a hit of the analysed job")
    hit = page.find(mine)
    marks = [m.text.lower() for m in hit.find_elements("css selector", "mark")]
    assert word.lower() in marks
    image = hit.find_element("css selector", "img")
    page.wait(lambda: page.js("return arguments[0].naturalWidth", image) > 0, "the thumbnail")
    page.screenshot("library-search-wide", WIDE)
    page.screenshot("library-search-phone", PHONE)
    page.find(mine).click()
    page.wait(lambda: page.visible("#result") and page.all(".timeline .moment"), "the moment")
    tracks = len(page.all(".timeline .track"))
    assert len(page.all(".timeline .moment")) == tracks > 0
    page.screenshot("library-moment-wide", WIDE)
    page.screenshot("library-moment-phone", PHONE)
    assert page.unlabelled() == []
    page.assert_every_request_ok_and_local()
    page.assert_clean_console()


def test_snippets_are_text_and_bad_queries_say_why(
    browser: Any, open_server: ServerProcess, artifacts: Path, done_job: dict[str, Any]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    # A snippet that looks like HTML stays text; the highlight marks code points (an emoji first).
    made = page.js(
        "const li = hitRow({job_id: 'x', file_name: 'x.mp4', kind: 'text', start_s: 1, end_s: 2,"
        " text: '🎉 <img src=x> sale', highlights: [[14, 18]], image: null});"
        "const text = li.querySelector('.snippet');"
        "return [text.querySelectorAll('img').length, text.textContent,"
        " li.querySelector('mark').textContent];"
    )
    assert made == [0, "🎉 <img src=x> sale", "sale"]
    page.find("#search-q").send_keys('"unclosed')
    page.find("#search-form button[type=submit]").click()
    page.wait(lambda: "cannot parse" in page.find("#search-status").text, "the server's message")
    assert page.find("#search-status").get_attribute("class") == "error"
    csv = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.querySelector('#library-csv').href)"
        ".then(r => r.text().then(t => done([r.status, t.split('\\r\\n')[0]])));"
    )
    assert csv[0] == 200 and csv[1].startswith("id,file_name_or_link,created")
    page.assert_clean_console("/search?")  # the 422 above is logged as a failed request


def test_portrait_keyframes_are_portrait_cards_and_long_names_wrap(
    browser: Any, open_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    # A name with no space to break at (phones save such names) must not widen the page.
    long_name = "VID_20240101_" + "x" * 90 + ".mp4"
    with open_server.client() as client:
        job = post_video(client, web_videos["dance"], filename=long_name).json()
    page = Page(browser, open_server, artifacts)
    page.open_app()
    page.js("openResult(arguments[0])", job["id"])
    page.wait(lambda: page.all(".filmstrip.portrait img"), "the keyframes")
    for image in page.all(".filmstrip img"):
        page.wait(lambda i=image: page.js("return arguments[0].complete", i), "a keyframe")
        box, picture = page.js(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.width / r.height, arguments[0].naturalWidth / arguments[0].naturalHeight]",
            image,
        )
        assert picture < 1 and abs(box - picture) < 0.05, (box, picture)  # no black bars
    page.screenshot("result-portrait-phone", PHONE)
