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
    _validate(num_frames, fps, min_frames, max_frames, size, timeout_s, decoder)
    cancel = threading.Event()

    def work() -> SampledFrames:
        return _sample(
            Path(path),
            num_frames,
            fps,
            min_frames,
            max_frames,
            size,
            max_duration_s,
            decoder,
            cancel,
        )

    return _run_with_timeout(work, timeout_s, cancel)


def stuck_decoder_threads() -> int:
    """Decoding threads still running after their caller timed out.

    A decoder hung inside C code cannot be stopped from Python; a worker process
    that sees this above zero should finish its job and let itself be restarted.
    """
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
        if not picks or index > picks[-1]:
            picks.append(index)
    return picks


def _validate(
    num_frames: int,
    fps: float | None,
    min_frames: int,
    max_frames: int,
    size: tuple[int, int] | None,
    timeout_s: float,
    decoder: str,
) -> None:
    if not 1 <= min_frames <= max_frames:
        raise InvalidOptionError(
            f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}"
        )
    if fps is None and not min_frames <= num_frames <= max_frames:
        raise InvalidOptionError(
            f"frames must be between {min_frames} and {max_frames}, got {num_frames}"
        )
    if fps is not None and not fps > 0:
        raise InvalidOptionError(f"fps must be above 0, got {fps}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise InvalidOptionError(f"size must be (width, height) in pixels, got {size}")
    if not timeout_s > 0:
        raise InvalidOptionError(f"timeout_s must be above 0, got {timeout_s}")
    if decoder not in ("auto", "decord", "pyav"):
        raise InvalidOptionError(f"decoder must be auto, decord or pyav, got {decoder!r}")


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
                _abandoned.append(thread)
    if thread.is_alive():
        raise DecodeTimeoutError(f"decoding took longer than {timeout_s:g} s and was stopped")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _sample(
    path: Path,
    num_frames: int,
    fps: float | None,
    min_frames: int,
    max_frames: int,
    size: tuple[int, int] | None,
    max_duration_s: float | None,
    decoder: Decoder,
    cancel: threading.Event,
) -> SampledFrames:
    info = probe_video(path)
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise VideoTooLongError(
            f"the video is {info.duration_s:.1f} s long; the limit is {max_duration_s:g} s"
        )
    table = index_frames(path, info.stream_index, info.fps, cancel)
    if not table.times:
        raise NoDecodableFramesError(f"the {info.codec} video stream holds no frames")
    warnings = _completeness_warnings(info, table)
    span = table.span_s
    count = num_frames if fps is None else int(np.clip(round(span * fps), min_frames, max_frames))
    picks = pick_frames(table.times, target_times(span, count))
    if len(picks) < count:
        warnings.append(
            f"the video has only {len(table.times)} frames: sampled {len(picks)} of {count}"
        )
    images, times, used, issues = _decode(path, info, table, picks, size, decoder, cancel)
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
    duration = max(info.duration_s, times[-1])
    video = info.model_copy(update={"decoder": used, "duration_s": duration})
    return SampledFrames(images=images, timestamps=times, video=video, warnings=warnings)


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
        except DecoderUnavailable as err:
            reason = str(err)
        except Exception as err:  # decord's errors carry C++ text nobody should read
            reason = f"decord failed mid-way ({type(err).__name__})"
        if decoder == "decord":
            if reason.startswith("decord is not installed"):
                raise InvalidOptionError("decoder 'decord' is not installed on this machine")
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
