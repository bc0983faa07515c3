"""Speech with real weights: Whisper tiny.en on espeak-ng speech, alone and over music.

The words (word error rate), the first word's time, and nothing invented on music
alone or silence; the audio decoding, the model's naming and loading, and the
plumbing of language and translation (tiny.en is English-only).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from analyzers.errors import ModelLoadError
from analyzers.stages import Stages, StagesConfig
from analyzers.stages.asr_model import AsrModel, load_asr, resolve_asr_model
from analyzers.stages.speech import SAMPLE_RATE, AudioTrack, audio_track, decode_audio, find_speech
from analyzers.stages.transcriber import Transcriber, transcribe_file
from analyzers.testing.speech_clips import music_samples, place, spoken, word_error_rate
from analyzers.testing.story_clips import Speech, make_story_video

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

SENTENCES = [
    ("hello and welcome back to my channel", "en-us", 150),
    ("today we are going to make fresh pasta at home", "en+f3", 175),
    ("follow for more videos like this one", "en-gb", 200),
]


@pytest.fixture(scope="module")
def transcriber(tiny_whisper_dir: Path) -> Transcriber:
    return Transcriber(load_asr(str(tiny_whisper_dir), "cpu"))


def _track(
    seconds: float, text: str, start_s: float, music: bool, **voice: Any
) -> tuple[AudioTrack, float]:
    samples = music_samples(seconds) if music else np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    onset = place(samples, 0.6 * spoken(text, **voice), start_s)
    return audio_track(samples), onset


@pytest.mark.parametrize(("text", "voice", "speed"), SENTENCES)
def test_clear_speech_is_read_with_word_times(
    transcriber: Transcriber, text: str, voice: str, speed: int
) -> None:
    audio, onset = _track(6.0, text, 1.2, music=False, voice=voice, speed=speed)
    transcript = transcriber.transcribe(audio)
    assert transcript is not None
    assert word_error_rate(text, transcript.text) <= 0.15, transcript.text
    assert transcript.language == "en" and transcript.language_probability == 1.0
    words = [w for s in transcript.segments for w in s.words]
    assert abs(words[0].start_s - onset) <= 0.3
    for segment in transcript.segments:
        assert segment.start_s <= segment.words[0].start_s
        assert segment.words[-1].end_s <= segment.end_s + 1e-3
    assert all(0 <= w.start_s <= w.end_s <= audio.duration_s for w in words)
    assert all(0 <= w.probability <= 1 for w in words)
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)


def test_speech_over_music_starting_late(transcriber: Transcriber) -> None:
    text = SENTENCES[1][0]
    audio, onset = _track(10.0, text, 6.5, music=True)
    transcript = transcriber.transcribe(audio)
    assert transcript is not None
    assert word_error_rate(text, transcript.text) <= 0.35, transcript.text
    first = transcript.segments[0].words[0]
    assert abs(first.start_s - onset) <= 0.4  # video time, not time within the speech


def test_music_alone_is_no_transcript(transcriber: Transcriber) -> None:
    audio = audio_track(music_samples(8.0, seed=3))
    assert transcriber.transcribe(audio) is None


def test_silence_costs_no_model_call() -> None:
    class NoCall:
        def transcribe(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the model was called on silence")

    quiet = np.random.default_rng(0).normal(0, 0.002, SAMPLE_RATE * 3).astype(np.float32)
    assert find_speech(np.zeros(SAMPLE_RATE * 3, np.float32)) == [] == find_speech(quiet)
    idle = Transcriber(AsrModel(model=NoCall(), name="none", device="cpu", compute_type="int8"))
    assert idle.transcribe(audio_track(quiet)) is None


def test_a_file_is_decoded_and_transcribed(transcriber: Transcriber, tmp_path: Path) -> None:
    """The evaluation's entry point; the speech found lies where espeak-ng put it (Opus too)."""
    path, truth = make_story_video(
        tmp_path / "speech.webm",
        width=64,
        height=64,
        duration_s=4.0,
        fps=10,
        codec="libvpx-vp9",
        speech=[Speech("hello and welcome", 1.0)],
    )
    audio = decode_audio(path)
    assert audio is not None and audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(4.0, abs=0.1) and len(audio.speech) == 1
    start, end = audio.speech[0]
    assert start <= truth[0].start_s + 0.1 and end >= truth[0].end_s - 0.1
    transcript = transcribe_file(path, transcriber)
    assert transcript is not None and word_error_rate("hello and welcome", transcript.text) == 0


def test_the_model_and_its_compute_type(transcriber: Transcriber) -> None:
    assert transcriber.asr.compute_type == "int8" and transcriber.asr.device == "cpu"
    assert not transcriber.asr.multilingual
    assert Transcriber(transcriber.asr, language="en").language == "en"


def test_transformers_ids_name_faster_whisper_models(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="analyzers.stages.asr_model"):
        assert resolve_asr_model("openai/whisper-small") == "small"
    assert "transformers id" in caplog.text
    assert resolve_asr_model("openai/whisper-large-v3-turbo") == "large-v3-turbo"
    assert resolve_asr_model("openai/whisper-tiny.en") == "tiny.en"
    assert resolve_asr_model("openai/whisper-large") == "large-v1"
    assert resolve_asr_model("distil-whisper/distil-large-v3") == "distil-large-v3"
    assert resolve_asr_model("small") == "small"
    assert resolve_asr_model("Systran/faster-whisper-small") == "Systran/faster-whisper-small"


def test_missing_model_skips_the_stage_with_a_warning(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_ASR_MODEL"):
        load_asr(str(tmp_path / "nowhere" / "whisper"))
    stages = Stages.load(_config(str(tmp_path / "nowhere" / "whisper")))
    assert stages.transcriber is None
    assert any("speech transcription is off" in w for w in stages.load_warnings)


def test_uncached_hub_model_fails_fast_with_a_warning() -> None:
    # HF_HUB_OFFLINE=1 (tests/conftest.py): not cached, so it cannot load, and says what to set.
    stages = Stages.load(_config("openai/whisper-base"))
    assert stages.transcriber is None
    assert any("TIKTOK_ANALYZER_ASR_MODEL" in w for w in stages.load_warnings)


def _fake_segment(text: str, start: float, end: float) -> SimpleNamespace:
    word = SimpleNamespace(word=f" {text}", start=start, end=end, probability=0.9)
    return SimpleNamespace(
        text=text, start=start, end=end, words=[word], no_speech_prob=0.0, avg_logprob=-0.2
    )


class _Multilingual:
    """Stands for a multilingual model: German speech, its English translation."""

    def __init__(self) -> None:
        self.model = SimpleNamespace(is_multilingual=True)
        self.calls: list[dict[str, Any]] = []

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Any, Any]:
        self.calls.append(kwargs)
        language = kwargs.get("language") or "de"
        info = SimpleNamespace(language=language, language_probability=0.97)
        if kwargs.get("task") == "translate":
            return iter([_fake_segment("good morning", 0.0, 0.8)]), info
        return iter([_fake_segment("guten Morgen", 0.0, 0.8)]), info


def test_language_and_translation_plumbing() -> None:
    audio = AudioTrack(samples=np.zeros(SAMPLE_RATE * 3, np.float32), speech=[(1.0, 2.0)])
    model = _Multilingual()
    asr = AsrModel(model=model, name="fake", device="cpu", compute_type="int8")
    transcript = Transcriber(asr, translate=True).transcribe(audio)
    assert transcript is not None and transcript.language == "de"
    assert transcript.language_probability == 0.97 and transcript.translation == "good morning"
    assert transcript.segments[0].words[0].start_s == 1.0  # mapped back to video time
    assert [call.get("task", "transcribe") for call in model.calls] == ["transcribe", "translate"]
    forced = Transcriber(asr, language="en", translate=True).transcribe(audio)
    assert forced is not None and forced.language == "en" and forced.translation is None
    assert model.calls[-1]["language"] == "en"
    plain = Transcriber(asr).transcribe(audio)
    assert plain is not None and plain.translation is None


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
