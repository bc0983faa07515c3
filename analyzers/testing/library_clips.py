"""Sounds and copies for the library's tests: a music bed, a pure tone, a re-encode.

The same music bed under two different pictures is "the same sound"; a re-encode
decodes a video and encodes it again at another size, its sound with it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from analyzers.media.single_pass import AUDIO_RATE as SAMPLE_RATE
from analyzers.testing.clips import _add_audio, _encoder_options
from analyzers.testing.speech_clips import music_samples
from analyzers.testing.story_clips import AUDIO_RATE, _write_samples, make_story_video


def music_bed(duration_s: float = 12.0, seed: int = 0) -> np.ndarray:
    """speech_clips' synthesised music as int16 mono at AUDIO_RATE (make_story_video's sound)."""
    music = music_samples(duration_s, seed=seed, level=0.5)
    at = np.arange(int(duration_s * AUDIO_RATE)) * (SAMPLE_RATE / AUDIO_RATE)
    bed: np.ndarray = (np.interp(at, np.arange(len(music)), music) * 32767).astype(np.int16)
    return bed


def tone(duration_s: float, amplitude: float, frequency: float = 1000.0) -> np.ndarray:
    """A sine of peak ``amplitude`` (of full scale): int16 mono at AUDIO_RATE."""
    t = np.arange(int(duration_s * AUDIO_RATE)) / AUDIO_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16)


def reencode(src: Path, dst: Path, width: int, height: int) -> Path:
    """``src`` decoded and encoded again at width x height (x264, AAC), as a re-upload is."""
    with av.open(str(src)) as inp:
        video = inp.streams.video[0]
        fps = int(round(video.average_rate or 30))
        decoded = inp.decode(video)
        frames = [f.to_ndarray(width=width, height=height, format="rgb24") for f in decoded]
    track = _sound_of(src)
    with av.open(str(dst), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {**_encoder_options("libx264", "ultrafast"), "crf": "32"}
        audio = None if track is None else _add_audio(out, AUDIO_RATE)  # before any packet
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if audio is not None and track is not None:
            _write_samples(out, audio, track)
    return dst


def _sound_of(path: Path) -> np.ndarray | None:
    """The file's sound as int16 mono at AUDIO_RATE, or None without an audio stream."""
    with av.open(str(path)) as inp:
        if not inp.streams.audio:
            return None
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        chunks = [
            converted.to_ndarray().reshape(-1)
            for frame in inp.decode(inp.streams.audio[0])
            for converted in resampler.resample(frame)
        ]
    return np.concatenate(chunks) if chunks else None


def library_set(folder: Path, width: int = 180, height: int = 320) -> dict[str, Path]:
    """Four 12 s clips: ``bed_a`` and ``bed_b`` (one music bed, different pictures), ``copy``
    (bed_a re-encoded at two thirds of its size) and ``other`` (other pictures and music)."""
    bed = music_bed(12.0, seed=1)
    clips = {
        "bed_a": make_story_video(
            folder / "bed_a.mp4", width=width, height=height, duration_s=12.0,
            cuts=(4.0, 8.0), sound=bed, seed=1,
        )[0],
        "bed_b": make_story_video(
            folder / "bed_b.mp4", width=width, height=height, duration_s=12.0,
            cuts=(3.0,), sound=bed, seed=7,
        )[0],
        "other": make_story_video(
            folder / "other.mp4", width=width, height=height, duration_s=12.0,
            cuts=(5.0,), sound=music_bed(12.0, seed=5), seed=3,
        )[0],
    }  # fmt: skip
    small = (width * 2 // 3 // 2 * 2, height * 2 // 3 // 2 * 2)
    clips["copy"] = reencode(clips["bed_a"], folder / "copy.mp4", *small)
    return clips
