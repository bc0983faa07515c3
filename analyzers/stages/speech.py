"""Speech, the audio side: 16 kHz mono samples and where in them someone speaks.

The samples come from the one decode pass (or ``decode_audio`` for a file alone);
speech is found with the Silero VAD that faster-whisper ships (an ONNX model run by
onnxruntime), in ``prepare`` on the CPU. Music, noise and silence are not speech:
only the stretches found here reach Whisper, so a video without speech costs no
model call and Whisper is never handed music to invent words in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.errors import InputError
from analyzers.media.probe import open_media
from analyzers.media.pyav_demux import demux_packets
from analyzers.media.single_pass import AUDIO_RATE, AudioCollector

logger = logging.getLogger(__name__)

SAMPLE_RATE = AUDIO_RATE
#: Silero's probability above which a 32 ms frame is speech (its authors' default)
VAD_THRESHOLD = 0.5
#: pauses shorter than this stay inside one stretch (a breath between sentences)
VAD_MIN_SILENCE_MS = 500
#: context kept around each stretch: Whisper needs the word onsets and endings
VAD_PAD_MS = 200
#: shorter bursts are clicks or a drum hit, not words
VAD_MIN_SPEECH_MS = 250


@dataclass(frozen=True)
class AudioTrack:
    """The file's audio as 16 kHz mono float32, and where in it someone speaks."""

    samples: np.ndarray
    speech: list[tuple[float, float]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def has_speech(self) -> bool:
        return bool(self.speech)


def decode_audio(path: str | Path, max_s: float | None = None) -> AudioTrack | None:
    """The default audio stream resampled to 16 kHz mono, or None when the file has none."""
    import av

    with open_media(path) as container:
        stream = container.streams.best("audio")
        if stream is None:
            return None
        collector = AudioCollector(max_s)
        try:
            for packet in demux_packets(container, stream):
                collector.add(packet)
                if collector.stopped:
                    break
        except av.error.FFmpegError as exc:
            # A damaged audio stream loses the speech after the damage, not the analysis.
            logger.info("%s: audio decoding stopped early: %s", Path(path).name, exc)
        return audio_track(collector.samples())


def audio_track(samples: np.ndarray) -> AudioTrack:
    """16 kHz mono samples with the stretches of speech found in them."""
    return AudioTrack(samples=samples, speech=find_speech(samples))


def find_speech(samples: np.ndarray) -> list[tuple[float, float]]:
    """Stretches of speech (start_s, end_s) by Silero VAD, padded 0.2 s, short pauses joined."""
    if len(samples) < SAMPLE_RATE // 10:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=VAD_THRESHOLD,
        min_speech_duration_ms=VAD_MIN_SPEECH_MS,
        min_silence_duration_ms=VAD_MIN_SILENCE_MS,
        speech_pad_ms=VAD_PAD_MS,
    )
    audio = np.ascontiguousarray(samples, dtype=np.float32)
    found = get_speech_timestamps(audio, options, sampling_rate=SAMPLE_RATE)
    return [(round(c["start"] / SAMPLE_RATE, 3), round(c["end"] / SAMPLE_RATE, 3)) for c in found]


def check_audio(path: str | Path, max_s: float | None) -> AudioTrack | None:
    """decode_audio that turns an unreadable audio stream into 'no audio' (a stage never fails)."""
    try:
        return decode_audio(path, max_s)
    except (InputError, ValueError, OSError) as exc:
        logger.info("%s: audio not decoded: %s", Path(path).name, exc)
        return None
