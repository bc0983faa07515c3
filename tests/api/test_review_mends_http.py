"""Review mends on the HTTP side needing a real server: an upload after a network error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.serverproc import ServerProcess
from tests.web.conftest import browser  # noqa: F401 - the headless Chromium fixture

pytest.importorskip("selenium", reason="selenium is a dev dependency (make install)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
ONLINE = {**OFFLINE, "offline": False}


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[str]:
    """Only the page is needed: the server answers before its worker is ready."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("mends-page"), tiny_model_dir, backend="local", workers=1
    )
    with srv.running(ready=False):
        yield srv.url


def _wait(driver: Any, predicate: Any, what: str) -> Any:
    try:
        return WebDriverWait(driver, 20, poll_frequency=0.1).until(lambda _: predicate())
    except Exception as exc:
        raise AssertionError(f"waited 20 s for {what}") from exc


def test_a_network_error_clears_the_uploading_line(
    browser: Any,  # noqa: F811
    page_server: str,
    tiny_video: Path,
) -> None:
    driver = browser
    driver.get(page_server + "/")
    _wait(driver, lambda: driver.find_element(By.ID, "app").is_displayed(), "the page to start")
    driver.find_element(By.ID, "file-input").send_keys(str(tiny_video))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    try:
        driver.find_element(By.ID, "analyze").click()
        note = _wait(
            driver,
            lambda: driver.find_elements(By.CSS_SELECTOR, "#files .error"),
            "the network error shown",
        )[0]
        assert "network error" in note.text and note.get_attribute("role") == "alert"
        assert driver.find_elements(By.CSS_SELECTOR, "#files progress.failed")
        status = driver.find_element(By.ID, "submit-status")
        _wait(driver, lambda: status.text == "", "'Uploading 1 video…' to go")
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)
        driver.execute_cdp_cmd("Network.disable", {})
