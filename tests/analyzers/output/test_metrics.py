"""Creative metrics: pacing, speech, text and sound from the result's pieces and the audio."""

from __future__ import annotations

import numpy as np
import pytest

from analyzers.output.metrics import MetricInputs, SoundMeasures, measure_sound, video_metrics
from analyzers.schema import Shot, TextOverlay, Transcript, TranscriptSegment, TranscriptWord
from analyzers.stages.speech import SAMPLE_RATE


def _shots(*starts: float, end: float) -> list[Shot]:
    bounds = [*starts, end]
    return [Shot(index=i, start_s=bounds[i], end_s=bounds[i + 1]) for i in range(len(starts))]


def _transcript(*words: tuple[str, float]) -> Transcript:
    timed = [TranscriptWord(text=w, start_s=s, end_s=s + 0.3, probability=0.9) for w, s in words]
    text = " ".join(w for w, _ in words)
    segment = TranscriptSegment(
        start_s=words[0][1], end_s=words[-1][1] + 0.3, text=text, words=timed
    )
    return Transcript(language="en", text=text, segments=[segment])


def test_every_metric_from_known_pieces() -> None:
    given = MetricInputs(
        duration_s=12.0,
        frame_times=[0.5, 2.0, 4.0, 6.0, 8.0, 10.0],
        shots=_shots(0.0, 2.5, 6.0, 9.0, end=12.0),
        motion=12.3456,
        overlays=[TextOverlay(text="SALE", start_s=0.5, end_s=2.0, confidence=0.9)],
        transcript=_transcript(("hello", 1.2), ("and", 1.6), ("welcome", 2.1), ("back", 5.0)),
        speech_checked=True,
        sound=SoundMeasures(loudness_lufs=-14.2, speech_s=3.0, music_s=6.0),
    )
    metrics = video_metrics(given)
    assert metrics.cuts_per_minute == 15.0 and metrics.mean_shot_s == 3.0
    assert metrics.first_cut_s == 2.5
    assert metrics.speech_share == 0.25 and metrics.music_share == 0.5
    assert metrics.first_word_s == 1.2 and metrics.words_per_minute == 80.0
    assert metrics.text_share == pytest.approx(2 / 6, abs=1e-3)
    assert (metrics.loudness_lufs, metrics.motion) == (-14.2, 12.35)
    assert metrics.hook.model_dump() == {"words": "hello and welcome", "text": "SALE", "cuts": 1}


def test_stages_that_did_not_run_are_null() -> None:
    given = MetricInputs(12.0, [1.0], None, None, None, None, False, None)
    metrics = video_metrics(given)
    assert set(metrics.model_dump(exclude={"hook"}).values()) == {None}
    assert metrics.hook.model_dump() == {"words": None, "text": None, "cuts": None}


def test_checked_but_absent_is_zero_or_empty() -> None:
    """Speech checked and none found, OCR read nothing, one shot: shares 0, no first cut."""
    given = MetricInputs(10.0, [2.0, 7.0], _shots(0.0, end=10.0), 0.5, [], None, True, None)
    metrics = video_metrics(given)
    assert (metrics.speech_share, metrics.text_share, metrics.cuts_per_minute) == (0.0, 0.0, 0.0)
    assert metrics.first_cut_s is None and metrics.first_word_s is None
    assert metrics.words_per_minute is None and metrics.mean_shot_s == 10.0
    assert metrics.hook.model_dump() == {"words": "", "text": "", "cuts": 0}


def _sine(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)


@pytest.mark.parametrize("peak_dbfs", [-6.0, -20.0, -32.0])
def test_loudness_of_a_known_tone_within_one_lu(peak_dbfs: float) -> None:
    # A mono 1 kHz sine reads (its peak level in dBFS) - 3.01 LUFS per BS.1770.
    sound = measure_sound(_sine(5.0, 10 ** (peak_dbfs / 20)), None, SAMPLE_RATE)
    assert sound.loudness_lufs == pytest.approx(peak_dbfs - 3.01, abs=1.0)
    assert (sound.speech_s, sound.music_s) == (None, None)  # no voice detector: unknown


def test_silence_is_the_floor_and_no_music() -> None:
    sound = measure_sound(np.zeros(SAMPLE_RATE * 3, np.float32), [], SAMPLE_RATE)
    assert sound == SoundMeasures(loudness_lufs=-70.0, speech_s=0.0, music_s=0.0)


def test_music_is_sound_outside_the_speech() -> None:
    samples = np.concatenate([_sine(4.0, 0.3), np.zeros(SAMPLE_RATE * 2, np.float32)])
    sound = measure_sound(samples, [(0.0, 1.0)], SAMPLE_RATE)
    assert sound.speech_s == 1.0 and sound.music_s == pytest.approx(3.0, abs=0.11)
