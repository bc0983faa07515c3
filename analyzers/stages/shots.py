"""Cuts between shots, found by PySceneDetect's content detector on a low-resolution decode.

PyAV decodes every frame once, scaled down to about 256 px on the long side
(cut detection needs colour and edges, not detail), and each frame goes to
``ContentDetector.process_frame``. A video without cuts is one shot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import av

from analyzers.errors import NoDecodableFramesError
from analyzers.media.probe import choose_video_stream, open_media, stream_start_s
from analyzers.media.pyav_demux import decode_frames
from analyzers.schema import Shot

logger = logging.getLogger(__name__)

#: long side of the frames the detector sees
DETECT_SIZE = 256
#: ContentDetector's threshold on its weighted HSV + edge change score (its default)
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


def detect_shots(
    path: str | Path,
    *,
    duration_s: float,
    threshold: float = CUT_THRESHOLD,
    deadline_s: float | None = None,
) -> ShotList:
    """Shots covering [0, duration_s], cut where the content detector fires.

    Past ``deadline_s`` (seconds of work) it raises ShotsTimeout: the caller then samples
    uniformly rather than let cut detection eat the job's time.
    """
    from scenedetect import ContentDetector, FrameTimecode

    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    times: list[float] = []
    cut_indices: list[int] = []
    with open_media(path) as container:
        stream = choose_video_stream(container)  # the stream the frames are sampled from
        stream.thread_type = "AUTO"  # frame threads: decode is most of this stage's cost
        fps = float(stream.guessed_rate or stream.average_rate or 30)
        start = stream_start_s(stream)
        detector = ContentDetector(
            threshold=threshold, min_scene_len=max(1, round(MIN_SHOT_S * fps))
        )
        size: tuple[int, int] | None = None
        try:
            for frame in decode_frames(container, stream):
                if deadline is not None and time.monotonic() > deadline:
                    raise ShotsTimeout(f"shot detection took longer than {deadline_s:g} s")
                if frame.pts is None:
                    continue
                if size is None:
                    size = _detect_size(frame.width, frame.height)
                image = frame.to_ndarray(
                    width=size[0], height=size[1], format="bgr24", interpolation="FAST_BILINEAR"
                )
                index = len(times)
                times.append(float(frame.pts * frame.time_base) - start)
                for cut in detector.process_frame(FrameTimecode(index, fps), image):
                    cut_indices.append(cut.frame_num)
        except av.error.FFmpegError as exc:
            # A damaged stretch ends the search; the shot found last runs to the end.
            logger.info("%s: shot detection stopped at a decoding error: %s", Path(path).name, exc)
    if not times:
        raise NoDecodableFramesError("not one frame of the video could be decoded for shots")
    return ShotList(_shots_from_cuts(cut_indices, times, duration_s), len(times))


def _detect_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, DETECT_SIZE / max(width, height))
    # Even sizes: swscale's chroma handling is happiest with them.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _shots_from_cuts(cut_indices: list[int], times: list[float], duration_s: float) -> list[Shot]:
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
