"""Fingerprints on videos the test makes: one music bed under two pictures, a re-encode."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from analyzers.options import AnalysisOptions
from analyzers.pipeline import prepare
from analyzers.stages import Stages, StagesConfig
from analyzers.stages.fingerprints import Fingerprints, frame_hash
from analyzers.testing.library_clips import library_set
from api.library.matching import same_sound, same_video
from api.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("fpcalc") is None, reason="needs fpcalc")

CONFIG = StagesConfig(
    sampling="shots",
    ocr=False,
    ocr_langs="eng",
    transcribe=False,
    asr_model="",
    keyframes=False,
    device="cpu",
    quantization="fp32",
)


class PlainFrames:
    """An analyzer stand-in for prepare: the frames are its input (no model needed here)."""

    input_size = (224, 224)

    def preprocess(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return images


@pytest.fixture(scope="module")
def options() -> AnalysisOptions:
    return Settings().analysis_options(frames=8, aspects="scene")


@pytest.fixture(scope="module")
def prints(
    tmp_path_factory: pytest.TempPathFactory, options: AnalysisOptions
) -> dict[str, Fingerprints]:
    clips = library_set(tmp_path_factory.mktemp("library"))
    stages = Stages.load(CONFIG)
    assert stages.load_warnings == []
    found = {}
    for name, path in clips.items():
        prepared = prepare(path, PlainFrames(), options, stages)  # type: ignore[arg-type]
        assert prepared.fingerprints is not None and "fingerprints" in prepared.stages_s
        found[name] = prepared.fingerprints
    return found


def test_one_sound_under_two_pictures_is_same_sound_not_same_video(
    prints: dict[str, Fingerprints],
) -> None:
    a, b = prints["bed_a"], prints["bed_b"]
    assert len(a.audio) > 60  # about 8 items a second of sound
    assert (same_sound(a.audio, b.audio) or 0) > 0.9
    assert same_video(a.frames, b.frames) is None


def test_a_reencode_at_another_size_is_same_video(prints: dict[str, Fingerprints]) -> None:
    a, copy = prints["bed_a"], prints["copy"]
    assert len(a.frames) == len(copy.frames) == 8
    assert (same_video(a.frames, copy.frames) or 0) >= 0.75
    assert (same_sound(a.audio, copy.audio) or 0) > 0.8


def test_an_unrelated_video_matches_nothing(prints: dict[str, Fingerprints]) -> None:
    other = prints["other"]
    for name in ("bed_a", "bed_b", "copy"):
        assert same_sound(other.audio, prints[name].audio) is None
        assert same_video(other.frames, prints[name].frames) is None


def test_a_sound_shorter_than_the_minimum_is_no_match(prints: dict[str, Fingerprints]) -> None:
    a = prints["bed_a"].audio
    assert same_sound(a[:20], a[:20]) is None  # 2.5 s: not "several seconds"


def test_frame_hash_survives_resizing_and_a_small_crop() -> None:
    rng = np.random.default_rng(4)
    picture = np.kron(rng.integers(0, 256, (16, 9, 3)), np.ones((40, 40, 1))).astype(np.uint8)
    smaller = picture[::2, ::2]
    cropped = picture[8:-8, 8:-8]
    original = frame_hash(picture)
    assert (original ^ frame_hash(smaller)).bit_count() <= 4
    assert (original ^ frame_hash(cropped)).bit_count() <= 10
    assert (original ^ frame_hash(picture[::-1])).bit_count() > 16


def test_without_fpcalc_one_warning_and_frames_still_hashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    stages = Stages.load(CONFIG)
    assert stages.sound_printer is None and len(stages.load_warnings) == 1
    assert "fpcalc" in stages.load_warnings[0]
    noise = np.random.default_rng(0).normal(0, 0.2, 16000 * 8).astype(np.float32)
    picture = np.random.default_rng(1).integers(0, 256, (64, 36, 3), dtype=np.uint8)
    found, warnings = stages.fingerprint(noise, [picture])
    assert warnings == [] and found == Fingerprints([], [frame_hash(picture)])


def test_silence_and_short_sounds_have_no_sound_fingerprint() -> None:
    stages = Stages.load(CONFIG)
    tone = np.sin(np.arange(16000 * 8) / 16000 * 2 * np.pi * 440).astype(np.float32)
    for samples in (np.zeros(16000 * 8, np.float32), tone[: 16000 * 2]):
        found, warnings = stages.fingerprint(samples, [])
        assert (found, warnings) == (Fingerprints([], []), [])
    steady, _ = stages.fingerprint(tone, [])
    assert steady is not None and steady.audio  # a steady tone has items, all alike...
    assert same_sound(steady.audio, steady.audio) is None  # ...and is no sound to share
