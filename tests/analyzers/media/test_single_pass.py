"""The one decode pass: frames, cuts and audio from one open container, on real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from analyzers.media.sampling import sample_frames, target_times
from analyzers.media.single_pass import AUDIO_RATE, PassRequest, frame_table, read_once, sample_kept
from analyzers.stages.shots import CutDetector
from analyzers.testing.clips import (
    make_damaged_video,
    make_truncated_video,
    make_video,
    read_frame_number,
)
from analyzers.testing.story_clips import make_story_video

FPS = 30


@pytest.fixture()
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every av.open call from here on (a spy: the library still does the work)."""
    calls: list[str] = []
    real = av.open

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    yield calls


def test_frames_and_audio_come_from_one_open(tmp_path: Path, opens: list[str]) -> None:
    path = make_video(tmp_path / "a.mp4", width=160, height=96, duration_s=2.0, audio=True)
    opens.clear()
    found = read_once(path, PassRequest(points=target_times(2.0, 4), audio_s=2.0))
    assert opens == [str(path)]
    assert len(found.times) == 2 * FPS
    assert found.audio is not None
    assert abs(len(found.audio) - 2 * AUDIO_RATE) <= AUDIO_RATE // 10
    assert float(np.sqrt(np.mean(found.audio**2))) > 0.01  # the tone, not silence
    # each kept frame is the one on screen at its point
    assert [read_frame_number(f.to_ndarray(format="rgb24")) for f in found.kept] == [7, 22, 37, 52]


def test_uniform_sampling_from_the_pass_matches_the_sampler(tmp_path: Path) -> None:
    path = make_video(tmp_path / "u.mp4", width=160, height=96, duration_s=3.0, rotation=90)
    found = read_once(path, PassRequest(points=target_times(3.0, 6), size=(48, 80)))
    sampled = sample_kept(found, target_times(3.0, 6), uniform=True)
    exact = sample_frames(path, num_frames=6, size=(48, 80))
    assert sampled.timestamps == pytest.approx(exact.timestamps)
    assert sampled.video.rotation == exact.video.rotation == 90
    assert sampled.images[0].shape == exact.images[0].shape == (80, 48, 3)
    numbers = [read_frame_number(image, 90) for image in sampled.images]
    assert numbers == [read_frame_number(image, 90) for image in exact.images]


def test_cuts_and_the_first_frame_of_each_shot(tmp_path: Path) -> None:
    path, _ = make_story_video(
        tmp_path / "c.mp4", width=160, height=288, duration_s=3.0, cuts=(1.0, 2.0)
    )
    found = read_once(path, PassRequest(cuts=CutDetector, points=[0.0, 1.5]))
    assert [found.times[i] for i in found.cuts] == pytest.approx([1.0, 2.0], abs=2 / FPS)
    cut_times = [found.times[i] for i in found.cuts]
    assert set(cut_times) <= set(found.kept_times)  # every shot has a frame to pick from
    assert found.audio is None and found.shots_s > 0


def test_a_flash_shorter_than_a_shot_is_not_a_cut() -> None:
    detector = CutDetector(fps=30.0)
    dark = np.zeros((36, 64, 3), np.uint8)
    light = np.full((36, 64, 3), 230, np.uint8)
    frames = [dark] * 20 + [light] * 2 + [dark] * 20 + [light] * 20
    flags = [detector.feed(frame) for frame in frames]
    # the flash opens a shot; its return two frames later is too soon to be another one
    assert [i for i, cut in enumerate(flags) if cut] == [20, 42]
    assert detector.cuts == [20, 42]


def test_a_damaged_file_gives_frames_and_says_so(tmp_path: Path) -> None:
    source = make_video(tmp_path / "s.mp4", width=160, height=96, duration_s=3.0, keyint_s=0.5)
    damaged = make_damaged_video(source, tmp_path / "d.mp4", start=0.4, end=0.6)
    found = read_once(damaged, PassRequest(cuts=CutDetector, points=target_times(3.0, 6)))
    sampled = sample_kept(found, target_times(3.0, 6), uniform=True)
    assert found.issues and len(sampled.images) >= 4
    assert any(w.startswith("the video is damaged") for w in sampled.warnings)


def test_a_cut_short_file_is_sampled_in_the_part_that_is_there(tmp_path: Path) -> None:
    source = make_video(tmp_path / "s.mp4", width=160, height=96, duration_s=6.0)
    cut = make_truncated_video(source, tmp_path / "t.mp4", keep=0.5)
    found = read_once(cut, PassRequest(points=target_times(6.0, 4)))
    sampled = sample_kept(found, target_times(frame_table(found).span_s, 4), uniform=True)
    assert sampled.images and max(sampled.timestamps) < 6.0
    assert any(w.startswith("the file is incomplete") for w in sampled.warnings)
