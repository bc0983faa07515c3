"""Cuts between shots, found by our own content detector on the frames of the one decode pass.

Each decoded frame is scaled down to about 64 px on its long side (cut detection needs
colour and layout, not detail) and turned into hue, saturation and value planes; its
change score is the mean absolute difference of those planes from the frame before,
averaged over the three (0-255 scale). A score at or above the threshold starts a new
shot, unless the shot running is shorter than MIN_SHOT_S: quicker "cuts" are flashes.
A video without cuts is one shot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.errors import NoDecodableFramesError
from analyzers.media.single_pass import PassRequest, read_once
from analyzers.schema import Shot

#: long side of the frames the detector sees
DETECT_SIZE = 64
#: change score (mean HSV difference, 0-255) from which a frame starts a new shot
CUT_THRESHOLD = 27.0
#: shortest shot kept, in seconds: quicker "cuts" are flashes, not shots
MIN_SHOT_S = 0.3


class ShotsTimeout(Exception):
    """Cut detection ran past its time limit."""


@dataclass(frozen=True)
class ShotList:
    """The shots of one video and how many frames were looked at."""

    shots: list[Shot]
    frames_seen: int


class CutDetector:
    """Decides, frame by frame, where a new shot starts (fed by analyzers.media.single_pass)."""

    def __init__(
        self, fps: float, threshold: float = CUT_THRESHOLD, min_shot_s: float = MIN_SHOT_S
    ) -> None:
        self.threshold = threshold
        self.min_frames = max(1, round(min_shot_s * (fps if fps > 0 else 30.0)))
        self.cuts: list[int] = []  # indices of the frames that start a shot (not the first)
        self.seconds = 0.0  # time spent here, reported as the shots stage
        self._previous: np.ndarray | None = None
        self._index = -1
        self._last_cut = 0
        # The sum and count of the change scores: their mean is the video's motion metric.
        self._score_sum = 0.0
        self._scored = 0

    @property
    def motion(self) -> float | None:
        """Mean change score between consecutive frames (0-255); None before two frames."""
        return self._score_sum / self._scored if self._scored else None

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the small frames to feed, from the stored picture's size."""
        scale = min(1.0, DETECT_SIZE / max(width, height, 1))
        # Even sizes: swscale's chroma handling is happiest with them.
        return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)

    def feed(self, rgb: np.ndarray) -> bool:
        """Look at the next frame (small, RGB); True when it starts a new shot."""
        began = time.perf_counter()
        self._index += 1
        planes = hsv_planes(rgb)
        previous, self._previous = self._previous, planes
        cut = False
        if previous is not None and previous.shape == planes.shape:
            score = float(np.abs(planes - previous).mean())
            self._score_sum += score
            self._scored += 1
            if score >= self.threshold and self._index - self._last_cut >= self.min_frames:
                self.cuts.append(self._index)
                self._last_cut = self._index
                cut = True
        self.seconds += time.perf_counter() - began
        return cut


def hsv_planes(rgb: np.ndarray) -> np.ndarray:
    """Hue (0-180, as OpenCV counts it), saturation and value (0-255) of an RGB uint8 image."""
    # Few whole-array steps: on a 36 x 64 picture numpy's per-call cost is what counts.
    colour = rgb.astype(np.float32)
    red, green, blue = colour[..., 0], colour[..., 1], colour[..., 2]
    value = np.maximum(np.maximum(red, green), blue)
    spread = value - np.minimum(np.minimum(red, green), blue)
    saturation = spread * 255.0 / np.maximum(value, 1.0)
    # Hue sector by the largest channel; grey pixels (no spread) get 0, as OpenCV gives.
    hue = np.where(
        value == red,
        green - blue,
        np.where(value == green, 2.0 * spread + blue - red, 4.0 * spread + red - green),
    )
    hue = (hue * 30.0 / np.maximum(spread, 1e-6)) % 180.0
    return np.stack([hue, saturation, value])


def detect_shots(
    path: str | Path,
    *,
    duration_s: float,
    threshold: float = CUT_THRESHOLD,
    deadline_s: float | None = None,
) -> ShotList:
    """Shots covering [0, duration_s], from a decode pass of its own (the pipeline shares one).

    Past ``deadline_s`` (seconds of work) it raises ShotsTimeout: the caller then samples
    uniformly rather than let cut detection eat the job's time.
    """
    deadline = None if deadline_s is None else time.monotonic() + deadline_s

    def check() -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise ShotsTimeout(f"shot detection took longer than {deadline_s:g} s")

    found = read_once(path, PassRequest(cuts=lambda fps: CutDetector(fps, threshold)), check)
    if not found.times:
        raise NoDecodableFramesError("not one frame of the video could be decoded for shots")
    return ShotList(shots_from_cuts(found.cuts, found.times, duration_s), len(found.times))


def shots_from_cuts(cut_indices: list[int], times: list[float], duration_s: float) -> list[Shot]:
    """Shots tiling [0, max(duration, last frame)], each starting at a cut frame's time."""
    end = max(duration_s, times[-1])
    starts = [0.0] + sorted({round(times[i], 3) for i in cut_indices if 0 < i < len(times)})
    bounds = [*starts, end]
    return [
        Shot(index=n, start_s=round(bounds[n], 3), end_s=round(bounds[n + 1], 3))
        for n in range(len(starts))
    ]


def shot_times(shots: list[Shot], frames: int) -> list[float]:
    """At least one time per shot (its middle), the rest spread uniformly; at most ``frames``.

    With more shots than frames, the longest shots get one frame each. Otherwise each
    shot gets frames in proportion to its length (at least one), at the centres of
    equal parts of the shot, so the result is uniform sampling bent to the cuts.
    """
    if not shots or frames < 1:
        return []
    if len(shots) >= frames:
        longest = sorted(shots, key=lambda s: (s.start_s - s.end_s, s.index))[:frames]
        return sorted((s.start_s + s.end_s) / 2 for s in longest)
    counts = _apportion([s.end_s - s.start_s for s in shots], frames)
    times: list[float] = []
    for shot, count in zip(shots, counts, strict=True):
        span = shot.end_s - shot.start_s
        times.extend(shot.start_s + (i + 0.5) * span / count for i in range(count))
    return times


def _apportion(lengths: list[float], total: int) -> list[int]:
    """``total`` split in proportion to ``lengths``, at least 1 each (largest remainders)."""
    spare = total - len(lengths)
    whole = sum(lengths) or 1.0
    shares = [spare * length / whole for length in lengths]
    counts = [1 + int(share) for share in shares]
    left = total - sum(counts)
    by_remainder = sorted(range(len(lengths)), key=lambda i: (int(shares[i]) - shares[i], i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts
