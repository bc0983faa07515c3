"""Fingerprints to find the same sound and the same pictures in other videos.

Sound: Chromaprint, the fingerprint AcoustID uses, computed by Debian's ``fpcalc``
(libchromaprint-tools) from the 16 kHz mono samples the decode pass already holds,
written as raw s16le to a temporary file (the video is not opened again). It gives one
32-bit sub-fingerprint per ITEM_S of sound. Pictures: a 64-bit difference hash (dHash)
of each sampled frame, our own in numpy: it is a dozen lines, survives re-encoding,
resizing and small crops, and the ``imagehash`` package would bring PyWavelets and
SciPy for it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: seconds of sound per Chromaprint sub-fingerprint (1365 samples at its 11025 Hz)
ITEM_S = 1365 / 11025
#: RMS (of full scale) under which a track is silence: its fingerprint would match any other
AUDIBLE_RMS = 10 ** (-50 / 20)
#: shorter sound gets no fingerprint: Chromaprint needs a few seconds to give any item
MIN_SOUND_S = 3.0
#: fpcalc is given this long at most per video
FPCALC_TIMEOUT_S = 60.0
#: the picture the difference hash compares neighbours on (width one more than height)
_HASH_SIZE = (9, 8)


class FingerprintUnavailable(Exception):
    """fpcalc is not installed: sound fingerprints are off."""


@dataclass(frozen=True)
class Fingerprints:
    """One video's fingerprints: Chromaprint items (empty: silent or off), one dHash a frame."""

    audio: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, list[int]]:
        """What travels to the front with the result (JobDone.fingerprints)."""
        return {"audio": list(self.audio), "frames": list(self.frames)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Fingerprints | None:
        """Back from to_json; None stays None."""
        if not data:
            return None
        return cls([int(v) for v in data.get("audio", [])], [int(v) for v in data["frames"]])


class SoundPrinter:
    """Chromaprint through fpcalc."""

    def __init__(self, fpcalc: str) -> None:
        self.fpcalc = fpcalc

    @classmethod
    def load(cls) -> SoundPrinter:
        """The printer, or FingerprintUnavailable when fpcalc is not on the PATH."""
        found = shutil.which("fpcalc")
        if found is None:
            raise FingerprintUnavailable("fpcalc not found (Debian: libchromaprint-tools)")
        return cls(found)

    def print(self, samples: np.ndarray, rate: int) -> list[int]:
        """Chromaprint sub-fingerprints (unsigned 32-bit) of mono float samples; [] for silence."""
        if len(samples) < MIN_SOUND_S * rate or _rms(samples) < AUDIBLE_RMS:
            return []
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
        seconds = str(int(len(samples) / rate) + 1)
        with tempfile.NamedTemporaryFile(suffix=".raw") as raw:
            raw.write(pcm.tobytes())
            raw.flush()
            command = [self.fpcalc, "-raw", "-format", "s16le", "-rate", str(rate)]
            command += ["-channels", "1", "-length", seconds, raw.name]
            # fpcalc reports the end of a raw file as an error on stderr; the output is whole.
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=FPCALC_TIMEOUT_S, check=False
            )
        for line in done.stdout.splitlines():
            if line.startswith("FINGERPRINT="):
                return [int(v) for v in line.removeprefix("FINGERPRINT=").split(",") if v]
        if "Empty fingerprint" in done.stderr:  # too little sound that varies: nothing to match
            return []
        raise RuntimeError(f"fpcalc gave no fingerprint: {done.stderr.strip()[-200:]}")


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def frame_hash(rgb: np.ndarray) -> int:
    """64-bit difference hash: the grey picture at 9 x 8, each bit one pixel brighter than
    its right neighbour, row by row."""
    grey = np.asarray(rgb, dtype=np.float32)
    if grey.ndim == 3:
        grey = grey[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if grey.shape[0] < _HASH_SIZE[1] or grey.shape[1] < _HASH_SIZE[0]:
        grey = np.repeat(np.repeat(grey, _HASH_SIZE[1], axis=0), _HASH_SIZE[0], axis=1)
    small = _area_resize(grey, *_HASH_SIZE)
    bits = (small[:, :-1] > small[:, 1:]).reshape(-1)
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def frame_hashes(images: Sequence[np.ndarray]) -> list[int]:
    """One dHash per sampled frame, in their order."""
    return [frame_hash(image) for image in images]


def _area_resize(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """Mean of each of height x width cells (box filter): resizing that ignores the source size."""
    rows = np.array_split(np.arange(grey.shape[0]), height)
    cols = np.array_split(np.arange(grey.shape[1]), width)
    return np.array([[grey[r[0] : r[-1] + 1, c[0] : c[-1] + 1].mean() for c in cols] for r in rows])
