"""Pick frames across a video and decode them, within a time limit, whatever the file.

Which frames: ``num_frames`` targets at the centres of equal segments of the
video (``(i + 0.5) * duration / n``), so the start and end - often black or a
logo - are not over-represented; with ``fps`` given, the count is
``duration * fps`` clamped to ``[min_frames, max_frames]``. Each target takes
the frame on screen at that moment; the timestamps returned are those frames'
own presentation times.

How: decord first (it resizes while decoding), PyAV when decord is missing, cannot
open the file, sees other frames than the file holds, or fails. Everything runs
in a daemon thread the caller waits for at most ``timeout_s``.
"""

from __future__ import annotations

import bisect
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from analyzers.decoders import (
    DecodeCancelled,
    DecodeIssue,
    DecoderUnavailable,
    DecordMissing,
    FrameTable,
    decode_with_decord,
    decode_with_pyav,
    index_frames,
)
from analyzers.errors import (
    DecodeTimeoutError,
    InvalidOptionError,
    NoDecodableFramesError,
    VideoTooLongError,
)
from analyzers.probe import probe_video
from analyzers.schema import VideoInfo

log = logging.getLogger(__name__)

Decoder = Literal["auto", "decord", "pyav"]
_T = TypeVar("_T")

#: decoding threads given up on after a timeout; a thread stuck in C code cannot be killed
_abandoned: list[threading.Thread] = []
_abandoned_lock = threading.Lock()


@dataclass
class SampledFrames:
    """Frames picked from one video, with where they sit in it."""

    images: list[np.ndarray]  # RGB uint8, HxWx3, display orientation (rotation applied)
    timestamps: list[float]  # seconds, strictly increasing, within [0, duration]
    video: VideoInfo  # with decoder="decord" or "pyav"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    """What sample_frames was asked for, checked before any work starts."""

    num_frames: int
    fps: float | None
    min_frames: int
    max_frames: int
    size: tuple[int, int] | None
    max_duration_s: float | None
    decoder: Decoder

    def validate(self, timeout_s: float) -> None:
        low, high = self.min_frames, self.max_frames
        if not 1 <= low <= high:
            raise InvalidOptionError(f"need 1 <= min_frames <= max_frames, got {low}, {high}")
        if self.fps is None and not low <= self.num_frames <= high:
            raise InvalidOptionError(
                f"frames must be between {low} and {high}, got {self.num_frames}"
            )
        if self.fps is not None and not self.fps > 0:
            raise InvalidOptionError(f"fps must be above 0, got {self.fps}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise InvalidOptionError(f"size must be (width, height) in pixels, got {self.size}")
        if not timeout_s > 0:
            raise InvalidOptionError(f"timeout_s must be above 0, got {timeout_s}")
        if self.decoder not in ("auto", "decord", "pyav"):
            raise InvalidOptionError(f"decoder must be auto, decord or pyav, got {self.decoder!r}")

    def frame_count(self, span_s: float) -> int:
        """Frames to sample from a video ``span_s`` seconds long."""
        if self.fps is None:
            return self.num_frames
        return min(self.max_frames, max(self.min_frames, round(span_s * self.fps)))


def sample_frames(
    path: str | Path,
    *,
    num_frames: int = 16,
    fps: float | None = None,
    min_frames: int = 1,
    max_frames: int = 64,
    size: tuple[int, int] | None = None,
    max_duration_s: float | None = None,
    timeout_s: float = 120.0,
    decoder: Decoder = "auto",
) -> SampledFrames:
    """Decode frames spread over the video; ``size`` is (width, height) as displayed."""
    options = _Options(num_frames, fps, min_frames, max_frames, size, max_duration_s, decoder)
    options.validate(timeout_s)
    cancel = threading.Event()
    return _run_with_timeout(
        functools.partial(_sample, Path(path), options, cancel), timeout_s, cancel
    )


def stuck_decoder_threads() -> int:
    """Decoding threads still running after their caller timed out (0 when all is well)."""
    # A decoder hung inside C code cannot be stopped from Python: a worker that sees this
    # above zero should finish its job and let itself be restarted.
    with _abandoned_lock:
        _abandoned[:] = [t for t in _abandoned if t.is_alive()]
        return len(_abandoned)


def target_times(span_s: float, count: int) -> list[float]:
    """Centres of ``count`` equal segments of ``[0, span_s]``."""
    return [(i + 0.5) * span_s / count for i in range(count)]


def pick_frames(times: list[float], targets: list[float]) -> list[int]:
    """Index of the frame on screen at each target, without repeats, in order."""
    picks: list[int] = []
    for target in targets:
        index = max(0, bisect.bisect_right(times, target) - 1)
        # Two frames with one timestamp (broken files) count as one: times must increase.
        if not picks or (index > picks[-1] and times[index] > times[picks[-1]]):
            picks.append(index)
    return picks


def _run_with_timeout(work: Callable[[], _T], timeout_s: float, cancel: threading.Event) -> _T:
    # A thread rather than a process: frames come back without copying, and both decord
    # (ctypes) and PyAV release the GIL in C, so join() returns on time even while one is
    # stuck there. The worker process's heartbeat is the backstop for what a thread leaks.
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:  # handed to the waiting thread below
            outcome["error"] = err

    thread = threading.Thread(target=run, name="tiktok-analyzer-decode", daemon=True)
    thread.start()
    try:
        thread.join(timeout_s)
    finally:
        if thread.is_alive():
            cancel.set()  # the thread stops at its next frame if it is not stuck in C
            with _abandoned_lock:
                _abandoned[:] = [t for t in _abandoned if t.is_alive()] + [thread]
    if thread.is_alive():
        raise DecodeTimeoutError(f"decoding took longer than {timeout_s:g} s and was stopped")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _sample(path: Path, options: _Options, cancel: threading.Event) -> SampledFrames:
    info = probe_video(path)
    _check_length(info.duration_s, options.max_duration_s)
    table = index_frames(path, info.stream_index, info.fps, cancel)
    if not table.times:
        raise NoDecodableFramesError(f"the {info.codec} video stream holds no frames")
    _check_length(table.span_s, options.max_duration_s)  # for files whose header has none
    warnings = _completeness_warnings(info, table)
    span = table.span_s
    count = options.frame_count(span)
    picks = pick_frames(table.times, target_times(span, count))
    if len(picks) < count:
        warnings.append(
            f"the video has only {len(table.times)} frames: sampled {len(picks)} of {count}"
        )
    images, times, used, issues = _decode(
        path, info, table, picks, options.size, options.decoder, cancel
    )
    images, times = _strictly_increasing(images, times)
    if issues:
        warnings.append(
            f"the video is damaged: {len(issues)} frame(s) could not be decoded, the first "
            f"near {issues[0].time_s:.1f} s; frames after that may show artefacts"
        )
    if not images:
        raise NoDecodableFramesError(
            f"not one frame of the {info.codec} video could be decoded; the file is damaged"
        )
    if len(images) < len(picks):
        warnings.append(
            f"only {len(images)} of {len(picks)} sampled frames could be decoded; "
            "the damaged parts of the video are not described"
        )
    # Headers of raw streams (.h264) state no duration or frame count: the table knows them.
    duration = max(info.duration_s, table.span_s, times[-1])
    frame_count = info.frame_count or len(table.times)
    video = info.model_copy(
        update={"decoder": used, "duration_s": duration, "frame_count": frame_count}
    )
    return SampledFrames(images=images, timestamps=times, video=video, warnings=warnings)


def _check_length(duration_s: float, limit: float | None) -> None:
    if limit is not None and duration_s > limit:
        raise VideoTooLongError(f"the video is {duration_s:.1f} s long; the limit is {limit:g} s")


def _strictly_increasing(
    images: list[np.ndarray], times: list[float]
) -> tuple[list[np.ndarray], list[float]]:
    # A safety net for decoders that hand out frames with broken timestamps.
    kept_images: list[np.ndarray] = []
    kept_times: list[float] = []
    for image, moment in zip(images, times, strict=True):
        if not kept_times or moment > kept_times[-1]:
            kept_images.append(image)
            kept_times.append(moment)
    return kept_images, kept_times


def _completeness_warnings(info: VideoInfo, table: FrameTable) -> list[str]:
    readable = table.span_s
    if table.complete and readable >= info.duration_s - max(1.0, 0.05 * info.duration_s):
        return []
    return [
        f"the file is incomplete: only {readable:.1f} s of its {info.duration_s:.1f} s "
        "could be read, and frames were sampled from that part"
    ]


def _decode(
    path: Path,
    info: VideoInfo,
    table: FrameTable,
    picks: list[int],
    size: tuple[int, int] | None,
    decoder: Decoder,
    cancel: threading.Event,
) -> tuple[list[np.ndarray], list[float], str, list[DecodeIssue]]:
    """Images, their times, the decoder that served them and what it could not decode."""
    if decoder != "pyav":
        try:
            images = decode_with_decord(path, table, picks, size, cancel)
            return images, [table.times[i] for i in picks], "decord", []
        except DecodeCancelled:
            raise
        except DecordMissing as err:
            if decoder == "decord":
                raise InvalidOptionError(
                    "decoder 'decord' is not installed on this machine"
                ) from err
            reason = str(err)
        except DecoderUnavailable as err:
            reason = str(err)
        except Exception as err:  # decord's errors carry C++ text nobody should read
            reason = f"decord failed mid-way ({type(err).__name__})"
        if decoder == "decord":
            raise NoDecodableFramesError(
                f"decord cannot decode this {info.codec} video; use decoder 'auto' or 'pyav'"
            )
        log.info("%s: %s; decoding with PyAV", path.name, reason)
    images, times, issues = decode_with_pyav(
        path, info.stream_index, table, picks, size, info.rotation, cancel
    )
    if issues:
        log.info("%s: PyAV could not decode %d packets: %s", path.name, len(issues), issues[0])
    return images, times, "pyav", issues
