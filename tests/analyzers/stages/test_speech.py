"""Speech: audio decoding and speech finding on espeak-ng tracks, and the tiny Whisper's plumbing.

The tiny Whisper has random weights: its words are meaningless, so these tests check
what does not depend on them: where speech is, that only it reaches the model, the
language code, segment times inside the speech and the audio, and the schema.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzers.errors import ModelLoadError
from analyzers.stages import Stages, StagesConfig
from analyzers.stages.loaded import TEST_ASR_WARNING
from analyzers.stages.speech import (
    SAMPLE_RATE,
    WINDOW_S,
    AudioTrack,
    decode_audio,
    find_speech,
    load_whisper,
    speech_windows,
)
from analyzers.testing.clips import make_video
from analyzers.testing.story_clips import Speech, make_story_video

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

SPEECH = [Speech("hello and welcome to my channel", 1.0), Speech("today we cook pasta", 5.0)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-media")


@pytest.fixture(scope="module")
def spoken(media: Path) -> tuple[Path, list[tuple[float, float]]]:
    path, spans = make_story_video(
        media / "speech.mp4", width=64, height=64, duration_s=8.0, fps=10, speech=SPEECH
    )
    return path, [(s.start_s, s.end_s) for s in spans]


@pytest.fixture(scope="module")
def stages(tiny_whisper_dir: Path) -> Stages:
    return Stages.load(_config(str(tiny_whisper_dir)))


def test_audio_is_16k_mono_and_speech_is_where_espeak_put_it(
    spoken: tuple[Path, list[tuple[float, float]]],
) -> None:
    path, truth = spoken
    audio = decode_audio(path)
    assert audio is not None and audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(8.0, abs=0.1)
    assert audio.has_speech and len(audio.speech) == len(truth)
    for (start, end), (true_start, true_end) in zip(audio.speech, truth, strict=True):
        # Found stretches hold the speech, padded by 0.2 s, and little more.
        assert start <= true_start and end >= true_end
        assert true_start - start <= 0.3 and end - true_end <= 0.3


def test_opus_in_webm_decodes_too(media: Path) -> None:
    path, truth = make_story_video(
        media / "speech.webm",
        width=64,
        height=64,
        duration_s=4.0,
        fps=10,
        codec="libvpx-vp9",
        speech=[Speech("hello and welcome", 1.0)],
    )
    audio = decode_audio(path)
    assert audio is not None and len(audio.speech) == 1
    assert audio.speech[0][0] <= truth[0].start_s < truth[0].end_s <= audio.speech[0][1]


def test_silence_and_no_audio_give_no_speech(media: Path) -> None:
    silent, _ = make_story_video(media / "silent.mp4", width=64, height=64, duration_s=2.0)
    assert decode_audio(silent) is None  # no audio stream at all
    assert find_speech(np.zeros(SAMPLE_RATE * 3, np.float32)) == []
    quiet = np.random.default_rng(0).normal(0, 0.002, SAMPLE_RATE * 3).astype(np.float32)
    assert find_speech(quiet) == []


def test_long_speech_is_cut_into_windows_whisper_can_hear() -> None:
    windows = speech_windows([(0.5, 12.0), (14.0, 25.0), (27.0, 95.0)])
    assert all(0 < b - a <= WINDOW_S for a, b in windows)
    assert windows[0] == (0.5, 25.0)  # short stretches share a window
    assert windows[1:] == [(27.0, 57.0), (57.0, 87.0), (87.0, 95.0)]


def test_transcript_from_the_tiny_whisper(
    stages: Stages, spoken: tuple[Path, list[tuple[float, float]]]
) -> None:
    path, _ = spoken
    audio = decode_audio(path)
    transcript, warnings = stages.transcribe(audio)
    assert warnings == [] and transcript is not None and audio is not None
    windows = speech_windows(audio.speech)
    assert windows == [(audio.speech[0][0], audio.speech[-1][1])]  # 8 s: one window
    assert len(transcript.language) in (2, 3) and transcript.language.isalpha()
    assert transcript.segments and transcript.text
    for seg in transcript.segments:
        # Times are numbers inside the window of speech Whisper heard, never past the audio.
        assert isinstance(seg.start_s, float) and isinstance(seg.end_s, float)
        assert 0.0 <= seg.start_s <= seg.end_s <= audio.duration_s
        assert any(a - 1e-3 <= seg.start_s and seg.end_s <= b + 1e-3 for a, b in windows)
        assert "<|" not in seg.text


def test_long_audio_is_transcribed_window_by_window(stages: Stages, media: Path) -> None:
    speech = [Speech("hello and welcome", 1.0), Speech("see you next time", 36.0)]
    path, truth = make_story_video(
        media / "long.mp4", width=32, height=32, duration_s=40.0, fps=5, speech=speech
    )
    audio = decode_audio(path)
    assert audio is not None
    windows = speech_windows(audio.speech)
    assert len(windows) == 2 and windows[1][0] > 30.0
    transcript, _ = stages.transcribe(audio)
    assert transcript is not None
    starts = [s.start_s for s in transcript.segments]
    assert starts == sorted(starts)
    # Both windows were heard: segments fall in each, with times of the whole audio.
    assert {any(a - 1e-3 <= t <= b + 1e-3 for t in starts) for a, b in windows} == {True}
    assert transcript.segments[-1].end_s <= audio.duration_s


def test_no_speech_is_a_null_transcript(stages: Stages, media: Path) -> None:
    tone = make_video(media / "tone.mp4", width=64, height=64, duration_s=1.0, audio=True)
    silent = AudioTrack(samples=np.zeros(SAMPLE_RATE, np.float32), speech=[])
    assert stages.transcribe(silent) == (None, [])
    assert stages.transcribe(None) == (None, [])
    assert decode_audio(tone) is not None  # a tone is sound: it does reach the model


def test_test_model_says_so(stages: Stages) -> None:
    assert stages.transcriber is not None and stages.transcriber.loaded.test_model
    assert TEST_ASR_WARNING in stages.load_warnings


def test_missing_model_skips_the_stage_with_a_warning(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_ASR_MODEL"):
        load_whisper(str(tmp_path / "nowhere" / "whisper"))
    stages = Stages.load(_config(str(tmp_path / "nowhere" / "whisper")))
    assert stages.transcriber is None
    assert any("speech transcription is off" in w for w in stages.load_warnings)


def test_uncached_hub_model_fails_fast_with_a_warning() -> None:
    # HF_HUB_OFFLINE=1 (tests/conftest.py): not cached, so it cannot load, and says what to set.
    stages = Stages.load(_config("openai/whisper-tiny-not-cached"))
    assert stages.transcriber is None
    assert any("TIKTOK_ANALYZER_ASR_MODEL" in w for w in stages.load_warnings)


def _config(model: str) -> StagesConfig:
    return StagesConfig(
        sampling="uniform",
        ocr=False,
        ocr_langs="eng",
        transcribe=True,
        asr_model=model,
        keyframes=False,
        device="cpu",
        quantization="fp32",
    )
