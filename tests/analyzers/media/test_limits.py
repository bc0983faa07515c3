"""Files that ask for much are refused from their headers, in-process and in the capped probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.errors import (
    FrameTooLargeError,
    InputError,
    MediaTooDemandingError,
    TooManyStreamsError,
)
from analyzers.media.bounded_probe import ProbeBudget, bounded_probe
from analyzers.media.limits import MediaLimits
from analyzers.media.probe import probe_video
from analyzers.media.single_pass import PassRequest, read_once
from analyzers.testing.hostile_clips import make_giant_apng, make_many_streams

LIMITS = MediaLimits()
BUDGET = ProbeBudget()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    make_many_streams(root / "streams-300.mp4", 300)
    make_many_streams(root / "streams-33.mp4", 33)
    make_many_streams(root / "streams-32.mp4", 32)
    make_giant_apng(root / "square-16000.png")
    make_giant_apng(root / "wide-9000.png", 9000, 16)
    make_giant_apng(root / "tall-16x9000.png", 16, 9000)
    make_giant_apng(root / "pixels-8000x5000.png", 8000, 5000)
    make_giant_apng(root / "portrait-4k.png", 2160, 3840)
    make_giant_apng(root / "landscape-4k.png", 3840, 2160)
    make_giant_apng(root / "landscape-8k.png", 7680, 4320)
    return root


HOSTILE = [
    ("streams-300.mp4", TooManyStreamsError),
    ("streams-33.mp4", TooManyStreamsError),
    ("square-16000.png", FrameTooLargeError),
    ("wide-9000.png", FrameTooLargeError),
    ("tall-16x9000.png", FrameTooLargeError),
    ("pixels-8000x5000.png", FrameTooLargeError),
]
ADMITTED = [
    ("streams-32.mp4", (16, 16)),
    ("portrait-4k.png", (2160, 3840)),
    ("landscape-4k.png", (3840, 2160)),
    ("landscape-8k.png", (7680, 4320)),
]


@pytest.mark.parametrize(("name", "error"), HOSTILE)
def test_hostile_files_are_refused_from_the_headers(
    files: Path, name: str, error: type[InputError]
) -> None:
    with pytest.raises(error) as caught:
        probe_video(files / name)
    assert caught.value.status == 422
    with pytest.raises(error):
        bounded_probe(files / name, LIMITS, BUDGET)


@pytest.mark.parametrize(("name", "size"), ADMITTED)
def test_large_but_real_sizes_are_admitted(files: Path, name: str, size: tuple[int, int]) -> None:
    info = bounded_probe(files / name, LIMITS, BUDGET)
    assert (info.width, info.height) == size
    assert info == probe_video(files / name)


@pytest.mark.parametrize(("name", "error"), HOSTILE)
def test_the_worker_decode_refuses_them_too(
    files: Path, name: str, error: type[InputError]
) -> None:
    with pytest.raises(error):
        read_once(files / name, PassRequest(points=[0.0]))


def test_the_limits_are_settings(files: Path) -> None:
    tight = MediaLimits(max_streams=4, max_side=1000, max_pixels=100_000)
    with pytest.raises(TooManyStreamsError, match="more than 4 streams"):
        bounded_probe(files / "streams-32.mp4", tight, BUDGET)
    with pytest.raises(FrameTooLargeError, match="2160x3840"):
        bounded_probe(files / "portrait-4k.png", tight, BUDGET)


@pytest.mark.parametrize(
    ("budget", "words"),
    [(ProbeBudget(memory_mb=64), "64 MB of memory"), (ProbeBudget(timeout_s=0.01), "0.01 s")],
)
def test_a_probe_over_its_budget_is_refused(files: Path, budget: ProbeBudget, words: str) -> None:
    with pytest.raises(MediaTooDemandingError, match=words) as caught:
        bounded_probe(files / "portrait-4k.png", LIMITS, budget)
    assert caught.value.code == "media_too_demanding" and caught.value.status == 422
