"""Shot detection on generated videos with hard cuts at known times, and shot-aware sampling."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.schema import Shot
from analyzers.stages.shots import detect_shots, shot_times
from analyzers.testing.clips import make_damaged_video
from analyzers.testing.story_clips import Overlay, make_story_video

FPS = 30
CUTS = (1.5, 2.7, 4.0, 6.2)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shots-media")


@pytest.fixture(scope="module")
def cut_video(media: Path) -> Path:
    # Text appearing and leaving mid-shot must not count as a cut.
    overlays = [Overlay("WAIT FOR IT", 0.5, 3.5), Overlay("part 2", 4.5, 7.0, y=0.7)]
    path, _ = make_story_video(
        media / "cuts.mp4",
        width=180,
        height=320,
        duration_s=7.5,
        fps=FPS,
        cuts=CUTS,
        overlays=overlays,
    )
    return path


def test_cuts_found_within_two_frames(cut_video: Path) -> None:
    found = detect_shots(cut_video, duration_s=7.5)
    starts = [s.start_s for s in found.shots[1:]]
    assert len(starts) == len(CUTS), found.shots
    for got, want in zip(starts, CUTS, strict=True):
        assert abs(got - want) <= 2 / FPS
    assert found.frames_seen == round(7.5 * FPS)


def test_shots_tile_the_whole_video(cut_video: Path) -> None:
    shots = detect_shots(cut_video, duration_s=7.5).shots
    assert shots[0].start_s == 0.0 and shots[-1].end_s == pytest.approx(7.5, abs=0.05)
    assert [s.index for s in shots] == list(range(len(shots)))
    for before, after in zip(shots, shots[1:], strict=False):
        assert before.end_s == after.start_s


def test_video_without_cuts_is_one_shot(media: Path) -> None:
    path, _ = make_story_video(media / "nocut.mp4", width=160, height=288, duration_s=3.0)
    shots = detect_shots(path, duration_s=3.0).shots
    assert shots == [Shot(index=0, start_s=0.0, end_s=3.0)]


@pytest.mark.parametrize(
    "codec,suffix", [("libvpx-vp9", ".webm"), ("libx265", ".mp4"), ("libsvtav1", ".mkv")]
)
def test_other_codecs(media: Path, codec: str, suffix: str) -> None:
    path, _ = make_story_video(
        media / f"cut-{codec}{suffix}",
        width=160,
        height=288,
        duration_s=2.0,
        fps=15,
        cuts=(1.0,),
        codec=codec,
    )
    starts = [s.start_s for s in detect_shots(path, duration_s=2.0).shots]
    assert len(starts) == 2 and abs(starts[1] - 1.0) <= 2 / 15


def test_damaged_video_still_gives_shots(cut_video: Path, media: Path) -> None:
    damaged = make_damaged_video(cut_video, media / "damaged.mp4", start=0.3, end=0.5)
    shots = detect_shots(damaged, duration_s=7.5).shots
    assert shots[0].start_s == 0.0 and shots[-1].end_s == pytest.approx(7.5, abs=0.05)
    assert any(abs(s.start_s - CUTS[0]) <= 2 / FPS for s in shots)  # before the damage


def _shots(*bounds: float) -> list[Shot]:
    return [
        Shot(index=i, start_s=a, end_s=b)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]


def test_every_shot_gets_a_frame_at_its_middle_when_frames_allow() -> None:
    shots = _shots(0.0, 0.4, 10.0, 10.6, 30.0)
    times = shot_times(shots, 8)
    assert len(times) == 8 and times == sorted(times)
    for shot in shots:
        assert any(shot.start_s <= t < shot.end_s for t in times)
    assert 0.2 in times and 10.3 in times  # a short shot's one frame is its middle


def test_more_shots_than_frames_keeps_the_longest() -> None:
    shots = _shots(0.0, 1.0, 5.0, 5.5, 9.0, 9.2)
    assert shot_times(shots, 2) == [3.0, 7.25]


def test_one_shot_is_uniform_sampling() -> None:
    assert shot_times(_shots(0.0, 8.0), 4) == [1.0, 3.0, 5.0, 7.0]
