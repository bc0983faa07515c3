"""The web page at / and /docs in a real headless Chromium against real servers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.serverproc import ServerProcess, serve_once
from tests.web.conftest import API_KEY

pytest.importorskip("selenium", reason="selenium is a dev dependency (make install)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TEST_MODEL_WARNING = "random-weight test model"
WIDE, PHONE = (1280, 900), (390, 844)


class Page:
    """The browser pointed at one server, with the waits and checks the tests share."""

    def __init__(self, driver: Any, srv: ServerProcess, artifacts: Path) -> None:
        self.driver, self.srv, self.artifacts = driver, srv, artifacts
        self.driver.get_log("browser")  # start each test with an empty console

    def open(self, path: str = "/") -> None:
        self.driver.set_window_size(*WIDE)
        self.driver.get(self.srv.url + path)

    def open_app(self) -> None:
        """The page, once its script has started (no API key asked)."""
        self.open()
        self.wait(lambda: self.visible("#app"), "the page to start")

    def wait(
        self,
        predicate: Callable[[], Any],
        what: str,
        timeout: float = 60,
        detail: Callable[[], Any] = lambda: "",
    ) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
                lambda _: predicate()
            )
        except Exception as exc:
            raise AssertionError(
                f"waited {timeout} s for {what} {detail()}; console: {self.console()}\n"
                f"{self.srv.output()}"
            ) from exc

    def find(self, css: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def visible(self, css: str) -> bool:
        found = self.all(css)
        return bool(found) and found[0].is_displayed()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def console(self) -> list[dict[str, Any]]:
        return list(self.driver.get_log("browser"))

    def assert_clean_console(self, *allowed: str) -> None:
        """A JavaScript error (or any failed request not allowed here) fails the test."""
        bad = [
            e
            for e in self.console()
            if e["level"] in ("SEVERE", "ERROR") and not any(a in e["message"] for a in allowed)
        ]
        assert not bad, f"browser console errors: {bad}"

    def assert_every_request_ok_and_local(self) -> None:
        entries = self.js(
            "return performance.getEntriesByType('resource').concat("
            "performance.getEntriesByType('navigation'))"
            ".map(e => [e.name, e.responseStatus || 0])"
        )
        for url, status in entries:
            assert url.startswith(self.srv.url), f"not served by the app: {url}"
            assert status < 400, f"{url} answered {status}"

    def unlabelled(self) -> list[str]:
        """Controls and images a screen reader could not name."""
        return self.js(
            "const bad = [];"
            "document.querySelectorAll('input:not([type=hidden]):not([hidden]), button, select,"
            " progress').forEach(e => {"
            "  const named = (e.labels && e.labels.length) || e.getAttribute('aria-label')"
            "    || (e.tagName === 'BUTTON' && e.textContent.trim());"
            "  if (!named) bad.push(e.outerHTML.slice(0, 80)); });"
            "document.querySelectorAll('img:not([alt])').forEach(e => bad.push(e.outerHTML));"
            "return bad;"
        )

    def choose_files(self, *paths: Path) -> None:
        self.find("#file-input").send_keys("\n".join(str(p) for p in paths))

    def job_rows(self) -> dict[str, str]:
        """File name -> status as the live list shows it."""
        return self.js(
            "const out = {};"
            "document.querySelectorAll('#jobs li.job').forEach(li => {"
            "  out[li.querySelector('.name').textContent] = li.dataset.status; });"
            "return out;"
        )

    def screenshot(self, name: str, size: tuple[int, int]) -> Path:
        """The whole page at this width (the window grown to the page's height)."""
        self.driver.set_window_size(*size)
        height = self.js("return document.documentElement.scrollHeight")
        self.driver.set_window_size(size[0], max(size[1], min(int(height) + 140, 6000)))
        path = self.artifacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*size)
        self.assert_fits_the_window(name)
        return path

    def assert_fits_the_window(self, view: str) -> None:
        """The page never scrolls sideways (checked at every width a screenshot takes)."""
        wide, window = self.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert wide <= window, f"{view}: the page is {wide} px wide in a {window} px window"


def test_docs_list_the_operations_from_assets_served_by_the_app(
    browser: Any, open_server: ServerProcess, artifacts: Path
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open("/docs")
    page.wait(lambda: len(page.all(".opblock-summary")) >= 8, "Swagger UI's operations")
    summaries = " ".join(e.text for e in page.all(".opblock-summary"))
    assert "/analyze" in summaries and "/jobs/{job_id}" in summaries and "/board" in summaries
    page.assert_every_request_ok_and_local()
    page.screenshot("docs-wide", WIDE)
    page.open("/redoc")
    page.wait(lambda: "Analyse one video" in page.find("body").text, "ReDoc's operations")
    page.assert_every_request_ok_and_local()
    page.assert_clean_console()


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/", "#app"),
        ("/docs", ".opblock-summary"),
        ("/redoc", "[data-section-id]"),
    ],
)
def test_page_and_docs_run_under_the_csp_without_violations(
    browser: Any, open_server: ServerProcess, artifacts: Path, path: str, ready: str
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open(path)
    page.wait(lambda: page.visible(ready), f"{path} to render")
    csp = page.js(
        "const r = new XMLHttpRequest(); r.open('GET', location.href, false); r.send();"
        "return r.getResponseHeader('Content-Security-Policy')"
    )
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert page.js("return document.querySelectorAll('script:not([src])').length") == 0
    entries = page.console()
    violations = [e for e in entries if "Content Security Policy" in e["message"]]
    assert not violations, violations
    assert not [e for e in entries if e["level"] in ("SEVERE", "ERROR")], entries


def test_the_page_refuses_to_be_framed(
    browser: Any, open_server: ServerProcess, artifacts: Path
) -> None:
    page = Page(browser, open_server, artifacts)
    # The attack as it happens: a page on another port of the same host frames ours.
    html = f"<!doctype html><iframe src='{open_server.url}/'></iframe>".encode()
    with serve_once(html) as other_origin:
        page.driver.get(other_origin)
    page.wait(lambda: page.all("iframe"), "the frame")
    driver = page.driver
    driver.switch_to.frame(page.find("iframe"))
    try:
        # Chromium shows its own error page in the frame instead of ours.
        page.wait(
            lambda: driver.execute_script(
                "return location.href !== 'about:blank' && document.readyState === 'complete'"
            ),
            "the frame to load or fail",
            timeout=20,
        )
        assert not driver.find_elements(By.CSS_SELECTOR, "#server-info"), "the page was framed"
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "tiktok-analyzer" not in text
    finally:
        driver.switch_to.default_content()


@pytest.mark.parametrize("path", ["/admin/release-memory", "/analyze", "/session"])
def test_a_form_posted_from_a_page_on_another_port_gets_403(
    browser: Any, open_server: ServerProcess, path: str
) -> None:
    # SameSite=Strict does not stop this one: another port of the same host is the same site.
    html = (
        f"<!doctype html><form method=post enctype=multipart/form-data action='{open_server.url}"
        f"{path}'><input name=url value='http://127.0.0.1:1/v.mp4'></form>"
        "<script>document.forms[0].submit()</script>"
    ).encode()
    with serve_once(html) as other_origin:
        browser.get(other_origin)
        WebDriverWait(browser, 20).until(lambda d: d.current_url.startswith(open_server.url))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "forbidden_origin" in body, body


def test_upload_through_the_page_shows_keyframes_timeline_and_warning(
    browser: Any, open_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    page.wait(lambda: "test model" in page.find("#server-info").text, "the model shown")
    assert "Up to 1.0 MB" in page.find("#limits").text
    assert page.find("#frames").get_attribute("max") == "4"
    page.choose_files(web_videos["beach"])
    page.wait(lambda: page.find("#analyze").is_enabled(), "the Analyze button")
    page.find("#analyze").click()
    # The result of a job submitted here opens by itself.
    page.wait(lambda: page.visible("#result"), "the result view", timeout=90)
    assert page.job_rows()["beach day.mp4"] == "done"
    assert page.js("return document.querySelector('#files progress').value") == 100
    images = page.all(".filmstrip img")
    assert len(images) == 3
    page.wait(
        lambda: all(page.js("return arguments[0].complete", i) for i in images), "the keyframes"
    )
    assert all(page.js("return arguments[0].naturalWidth", i) > 0 for i in images)
    captions = [e.text for e in page.all(".filmstrip figcaption")]
    assert all(c.split(" s ", 1)[1].strip() for c in captions), captions
    assert len(page.all(".filmstrip dd")) == 3 * 8  # every aspect answered for every frame
    assert len(page.all(".timeline .aspect")) == 8
    assert page.all(".timeline .band"), "no band on the timeline"
    # Set through the CSSOM: the CSP would drop a style attribute.
    assert page.js("return document.querySelector('.timeline .band').style.width").endswith("%")
    assert TEST_MODEL_WARNING in page.find(".warnings").text
    assert page.find(".summary").text.strip()
    formats = [a.text for a in page.all(".downloads a")]
    assert formats == ["JSON", "MD", "SRT", "VTT"]
    vtt = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));",
        page.find(".downloads a:last-child").get_attribute("href"),
    )
    assert vtt[0] == 200 and vtt[1].startswith("WEBVTT")
    assert page.unlabelled() == []
    # By keyboard: the row's View button opens the result and moves the focus to it.
    page.js("document.querySelector('#result').hidden = true")
    view = page.find("#jobs li.job[data-status=done] button")
    view.send_keys(Keys.ENTER)
    page.wait(lambda: page.visible("#result"), "the result opened by keyboard")
    assert page.js("return document.activeElement.id") == "result-heading"
    page.screenshot("result-wide", WIDE)
    page.screenshot("result-phone", PHONE)
    page.assert_every_request_ok_and_local()
    page.assert_clean_console()


def test_dropped_files_are_listed_and_one_past_the_limit_is_refused_before_upload(
    browser: Any, open_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    video = base64.b64encode(web_videos["dance"].read_bytes()).decode()
    # A real drop event carrying real File objects (a 2 MB one is past the 1 MB limit).
    page.js(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const dt = new DataTransfer();"
        "dt.items.add(new File([bytes], 'dropped.mp4', {type: 'video/mp4'}));"
        "dt.items.add(new File([new Uint8Array(2 * 1024 * 1024)], 'big.mp4'));"
        "const drop = document.querySelector('#drop');"
        "for (const type of ['dragover', 'drop']) drop.dispatchEvent("
        "  new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));",
        video,
    )
    rows = page.wait(lambda: len(page.all("#files li")) == 2 and page.all("#files li"), "rows")
    assert "dropped.mp4" in rows[0].text and "ready" in rows[0].text
    assert "big.mp4" in rows[1].text and "too large: the limit is 1.0 MB" in rows[1].text
    assert page.find("#analyze").text == "Analyze"  # only the one that fits will go
    for button in page.all("#files li button"):
        button.send_keys(Keys.ENTER)  # Remove, by keyboard
    page.wait(lambda: not page.all("#files li"), "the list emptied")
    assert not page.find("#analyze").is_enabled()
    page.assert_clean_console()


def test_a_text_file_named_mp4_shows_the_servers_message(
    browser: Any, open_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    page.choose_files(web_videos["fake"])
    page.find("#analyze").click()
    note = page.wait(lambda: page.all("#files .error"), "the error shown")[0]
    assert "not a video" in note.text, note.text
    assert note.get_attribute("role") == "alert"
    assert page.all("#files progress.failed"), "the full bar of a refused upload is not marked"
    page.screenshot("upload-error-wide", WIDE)
    page.assert_clean_console("status of 415")


def test_the_key_prompt_then_cancel_a_queued_job(
    browser: Any, keyed_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    page = Page(browser, keyed_server, artifacts)
    page.open()
    page.driver.delete_all_cookies()
    page.open()
    page.wait(lambda: page.visible("#login"), "the key prompt")
    assert not page.visible("#app")
    page.find("#api-key").send_keys("not-the-key")
    page.find("#login-form button").click()
    error = page.wait(lambda: page.visible("#login-error") and page.find("#login-error"), "refusal")
    assert "Wrong API key" in error.text
    page.screenshot("key-prompt-phone", PHONE)
    page.find("#api-key").send_keys(API_KEY)
    page.find("#login-form button").click()
    page.wait(lambda: page.visible("#app"), "the page after the key")
    cookie = page.driver.get_cookie("tiktok_analyzer_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert API_KEY not in cookie["value"]
    assert "tiktok_analyzer" not in page.js("return document.cookie")
    page.open()  # the key is asked once: a reload goes straight to the page
    page.wait(lambda: page.visible("#app"), "the page after a reload")
    assert not page.visible("#login")

    names = ["beach day.mp4", "city walk.mp4", "dance.mp4"]
    page.choose_files(web_videos["beach"], web_videos["city"], web_videos["dance"])
    page.find("#analyze").click()
    seen: dict[str, list[str]] = {n: [] for n in names}

    def watch() -> dict[str, str]:
        rows = page.job_rows()
        for name, status in rows.items():
            statuses = seen.setdefault(name, [])
            if not statuses or statuses[-1] != status:
                statuses.append(status)
        return rows

    # One runs (the model sleeps 2 s), the two others wait: cancel one of those.
    page.wait(
        lambda: list(watch().values()).count("queued") == 2, "two queued jobs", detail=lambda: seen
    )
    badges = " ".join(e.text for e in page.all("#jobs li.job[data-status=queued] .badge"))
    assert "#1 in line" in badges and "#2 in line" in badges, badges
    page.screenshot("jobs-queued-wide", WIDE)
    row = page.all("#jobs li.job[data-status=queued]")[-1]
    cancelled = row.find_element(By.CSS_SELECTOR, ".name").text
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    page.wait(lambda: watch().get(cancelled) == "cancelled", "the cancelled job")
    others = [n for n in names if n != cancelled]
    page.wait(lambda: all(watch().get(n) == "done" for n in others), "both others done", 90)
    waited = next(n for n in others if seen[n][0] == "queued")
    assert seen[waited] == ["queued", "running", "done"], seen
    assert seen[cancelled][-2:] == ["queued", "cancelled"], seen
    # The results opened by themselves; the keyframes load with the session cookie alone.
    page.wait(lambda: page.visible("#result"), "the result view")
    images = page.all(".filmstrip img")
    page.wait(lambda: all(page.js("return arguments[0].complete", i) for i in images), "images")
    assert images and all(page.js("return arguments[0].naturalWidth", i) > 0 for i in images)
    page.screenshot("jobs-done-phone", PHONE)
    page.assert_clean_console("status of 401")


#: Chromium's network conditions (DevTools protocol): offline, and back
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
ONLINE = {**OFFLINE, "offline": False}


def test_an_upload_lost_to_the_network_is_marked_and_the_status_line_clears(
    browser: Any, open_server: ServerProcess, artifacts: Path, web_videos: dict[str, Path]
) -> None:
    page = Page(browser, open_server, artifacts)
    page.open_app()
    page.choose_files(web_videos["city"])
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    try:
        page.find("#analyze").click()
        note = page.wait(lambda: page.all("#files .error"), "the network error shown")[0]
        assert "network error" in note.text and note.get_attribute("role") == "alert"
        assert page.all("#files progress.failed")
        page.wait(lambda: page.find("#submit-status").text == "", "'Uploading 1 video…' to go")
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)
        browser.execute_cdp_cmd("Network.disable", {})
    page.assert_clean_console("ERR_INTERNET_DISCONNECTED", "/board")
