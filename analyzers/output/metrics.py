"""Creative metrics of one video, from what the analysis already found (no decoding here).

Pacing comes from the shots, speech from the voice detector's stretches and Whisper's
word times, on-screen text from the OCR overlays on the sampled frames, sound from
the samples the decode pass held (measured in ``prepare``: see :func:`measure_sound`).
A metric whose stage did not run is None; shares are of the video's duration, 0 to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyzers.media.loudness import integrated_loudness
from analyzers.schema import Hook, Metrics, Shot, TextOverlay, Transcript

#: the opening seconds the hook describes
HOOK_S = 3.0
#: short-term windows over which the sound's level is taken (music_share)
SOUND_WINDOW_S = 0.1
#: RMS level (dBFS) above which a window holds sound rather than silence or hiss
SOUND_FLOOR_DBFS = -45.0


@dataclass(frozen=True)
class SoundMeasures:
    """What the audio gives the metrics: loudness, and seconds of speech and of other sound."""

    loudness_lufs: float | None
    #: None when the voice detector did not run (no transcription)
    speech_s: float | None
    #: None when the voice detector did not run: without it sound cannot be told from speech
    music_s: float | None


@dataclass(frozen=True)
class MetricInputs:
    """The result's pieces the metrics are computed from."""

    duration_s: float
    frame_times: Sequence[float]
    shots: Sequence[Shot] | None
    motion: float | None
    overlays: Sequence[TextOverlay] | None
    transcript: Transcript | None
    #: the voice detector and Whisper ran (a null transcript then means no speech)
    speech_checked: bool
    sound: SoundMeasures | None


def measure_sound(
    samples: np.ndarray, speech: Sequence[tuple[float, float]] | None, rate: int
) -> SoundMeasures:
    """Loudness (EBU R128) and, with the voice detector's stretches, seconds of speech and
    of music: 100 ms windows whose RMS is above SOUND_FLOOR_DBFS and that no stretch of
    speech overlaps count as music (any sound that is not speech: music, effects, noise)."""
    loudness = integrated_loudness(samples, rate)
    if speech is None:
        return SoundMeasures(loudness, None, None)
    window = max(1, int(SOUND_WINDOW_S * rate))
    count = len(samples) // window
    blocks = np.asarray(samples[: count * window], dtype=np.float64).reshape(count, window)
    rms = np.sqrt(np.mean(blocks**2, axis=1)) if count else np.zeros(0)
    loud = rms > 10 ** (SOUND_FLOOR_DBFS / 20)
    starts = np.arange(count) * SOUND_WINDOW_S
    spoken = np.zeros(count, dtype=bool)
    for begin, end in speech:
        spoken |= (starts + SOUND_WINDOW_S > begin) & (starts < end)
    speech_s = sum(max(0.0, end - begin) for begin, end in speech)
    music_s = float(np.count_nonzero(loud & ~spoken)) * SOUND_WINDOW_S
    return SoundMeasures(loudness, round(speech_s, 3), round(music_s, 3))


def video_metrics(given: MetricInputs) -> Metrics:
    """The metrics of one video (see the README's result section for each unit)."""
    duration = max(given.duration_s, 1e-6)
    sound = given.sound
    words = _words(given.transcript)
    speech_s = None
    if given.speech_checked:
        speech_s = sound.speech_s if sound is not None and sound.speech_s is not None else 0.0
    return Metrics(
        **_pacing(given.shots, duration),
        speech_share=_share(speech_s, duration),
        first_word_s=words[0][1] if words else None,
        words_per_minute=round(len(words) * 60 / speech_s, 1) if words and speech_s else None,
        text_share=_text_share(given.overlays, given.frame_times),
        music_share=None if sound is None else _share(sound.music_s, duration),
        loudness_lufs=None if sound is None else sound.loudness_lufs,
        motion=None if given.motion is None else round(given.motion, 2),
        hook=_hook(given, words),
    )


def _pacing(shots: Sequence[Shot] | None, duration: float) -> dict[str, float | None]:
    if shots is None:
        return {"cuts_per_minute": None, "mean_shot_s": None, "first_cut_s": None}
    cuts = max(0, len(shots) - 1)
    return {
        "cuts_per_minute": round(cuts * 60 / duration, 2),
        "mean_shot_s": round(duration / max(1, len(shots)), 3),
        "first_cut_s": shots[1].start_s if len(shots) > 1 else None,
    }


def _words(transcript: Transcript | None) -> list[tuple[str, float]]:
    """Every word with its start; a segment without word times counts its words at its start."""
    if transcript is None:
        return []
    found: list[tuple[str, float]] = []
    for segment in transcript.segments:
        if segment.words:
            found += [(w.text.strip(), w.start_s) for w in segment.words]
        else:
            found += [(w, segment.start_s) for w in segment.text.split()]
    return [(text, start) for text, start in found if text]


def _text_share(overlays: Sequence[TextOverlay] | None, times: Sequence[float]) -> float | None:
    """Share of the sampled frames on which text was read (each stands for its slice)."""
    if overlays is None:
        return None
    if not times:
        return 0.0
    shown = sum(any(o.start_s - 1e-3 <= t <= o.end_s + 1e-3 for o in overlays) for t in times)
    return round(shown / len(times), 3)


def _hook(given: MetricInputs, words: list[tuple[str, float]]) -> Hook:
    said = " ".join(t for t, start in words if start < HOOK_S) if given.speech_checked else None
    text = None
    if given.overlays is not None:
        shown = [o.text for o in given.overlays if o.start_s < HOOK_S]
        text = " / ".join(dict.fromkeys(shown))
    cuts = None
    if given.shots is not None:
        cuts = sum(1 for s in given.shots[1:] if s.start_s < HOOK_S)
    return Hook(words=said, text=text, cuts=cuts)


def _share(seconds: float | None, duration: float) -> float | None:
    if seconds is None:
        return None
    return round(min(1.0, max(0.0, seconds / duration)), 3)
