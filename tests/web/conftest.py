"""A real headless Chromium (Debian's, driven by Selenium) shared by every browser test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzers.testing.clips import make_text_file, make_video
from tests.support.serverproc import REPO, ServerProcess, hanging

API_KEY = "web-page-key-0123456789"
#: screenshots of the main views, for a person to look at (git-ignored under logs/)
ARTIFACTS = REPO / "logs" / "test-artifacts" / "web"


def _browser_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; its console log is read by every test."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is a dev dependency (make install)"
    )
    paths = _browser_paths()
    if paths is None:
        pytest.skip("chromium and chromedriver are not installed (make install adds them)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tiktok-analyzer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def web_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real videos (names as a person would have them) and a text file named .mp4."""
    root = tmp_path_factory.mktemp("web-videos")
    return {
        "beach": make_video(root / "beach day.mp4", width=96, height=160, duration_s=2, fps=10),
        "city": make_video(root / "city walk.mp4", width=96, height=160, duration_s=2, fps=10),
        "dance": make_video(root / "dance.mp4", width=96, height=160, duration_s=2, fps=10),
        "fake": make_text_file(root / "notes.mp4"),
    }


@pytest.fixture(scope="session")
def open_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """No API key; the tiny model answers at once."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("web-open"),
        tiny_model_dir,
        backend="local",
        workers=1,
        frames=3,
        max_frames=4,
        max_upload_mb=1,
    )
    with srv.running():
        yield srv


@pytest.fixture(scope="session")
def keyed_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """API key required; each job sleeps 2 s in the model (test hook) while others queue."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("web-keyed"),
        tiny_model_dir,
        backend="local",
        workers=1,
        frames=2,
        max_frames=4,
        max_upload_mb=1,
        api_key=API_KEY,
        **hanging(2),
        job_timeout_s=60,
        prefetch=False,  # one job per worker at a time: the others wait in the queue
    )
    with srv.running():
        yield srv
