"""Pick frames across a video and decode them, within a time limit, whatever the file.

Which frames: by default ``num_frames`` targets at the centres of equal segments
of the video (``(i + 0.5) * duration / n``), so the start and end - often black
or a logo - are not over-represented; with ``fps`` given, the count is
``duration * fps`` clamped to ``[min_frames, max_frames]``; with ``times`` given
(shot detection's shot middles), those moments. Each target takes the frame on
screen at that moment (``seek="exact"``) or the keyframe nearest it
(``seek="keyframe"``: one decoded picture per target, faster, times shift; a target
with no keyframe in its share of the video - halfway to its neighbours - gets its
exact frame instead); the timestamps returned are the frames' own presentation times.

How: the file is opened once; its headers are read, its packet index is built by
demuxing (which frames exist, which are keyframes), and PyAV decodes the picked
frames from that same container, planning seeks and threads on the index
(analyzers.media.pyav_frames). decord serves when asked for (``decoder="decord"``); the
result's ``video.decoder`` says which one did. Everything runs in a daemon thread
the caller waits for at most ``timeout_s``.

Still pictures are refused as not a video, whatever the container: image formats
(PNG, JPEG, WebP - animated WebP included, FFmpeg cannot decode it), and any
stream holding a single frame (a one-frame GIF, an MP4 of one picture). An
animated GIF or APNG of two frames or more is a short video and is sampled as one.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from analyzers.errors import (
    DecodeTimeoutError,
    InvalidOptionError,
    NoDecodableFramesError,
    VideoTooLongError,
)
from analyzers.media.decode_warnings import completeness_warnings, damage_warnings
from analyzers.media.decord_frames import DecordMissing, decode_with_decord
from analyzers.media.frame_table import DecodeCancelled, FrameTable, index_stream
from analyzers.media.probe import (
    choose_video_stream,
    describe_stream,
    first_frame_rotation,
    open_media,
    orientation_of,
    raise_still_image,
    rotation_tag,
)
from analyzers.media.pyav_frames import (
    Decoded,
    available_cores,
    decode_exact,
    decode_keyframes,
    keyframes_for,
    merge,
    open_decoder,
    plan_threads,
    rewind,
)
from analyzers.schema import VideoInfo

log = logging.getLogger(__name__)

Decoder = Literal["auto", "decord", "pyav"]
Seek = Literal["exact", "keyframe"]
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
    times: tuple[float, ...] | None
    fps: float | None
    min_frames: int
    max_frames: int
    size: tuple[int, int] | None
    max_duration_s: float | None
    decoder: Decoder
    seek: Seek
    threads: int | None

    def validate(self, timeout_s: float) -> None:
        # A public function's guards; AnalysisOptions has already checked a service request.
        low, high = self.min_frames, self.max_frames
        if not 1 <= low <= high:
            raise InvalidOptionError(f"need 1 <= min_frames <= max_frames, got {low}, {high}")
        if self.times is not None:
            if not 1 <= len(self.times) <= high or not all(map(math.isfinite, self.times)):
                raise InvalidOptionError(f"times must be 1 to {high} finite numbers of seconds")
        elif self.fps is None and not low <= self.num_frames <= high:
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
        if self.threads is not None and not 1 <= self.threads <= 64:
            raise InvalidOptionError(f"threads must be 1 to 64, got {self.threads}")
        if self.seek not in ("exact", "keyframe"):
            raise InvalidOptionError(f"seek must be exact or keyframe, got {self.seek!r}")

    def targets(self, span_s: float) -> list[float]:
        """Moments to sample in a video ``span_s`` seconds long, ascending."""
        if self.times is not None:
            last = max(0.0, span_s - 1e-6)
            return sorted(min(max(0.0, t), last) for t in self.times)
        if self.fps is None:
            return target_times(span_s, self.num_frames)
        count = min(self.max_frames, max(self.min_frames, round(span_s * self.fps)))
        return target_times(span_s, count)


def sample_frames(
    path: str | Path,
    *,
    num_frames: int = 16,
    times: Sequence[float] | None = None,
    fps: float | None = None,
    min_frames: int = 1,
    max_frames: int = 64,
    size: tuple[int, int] | None = None,
    max_duration_s: float | None = None,
    timeout_s: float = 120.0,
    decoder: Decoder = "auto",
    seek: Seek = "exact",
    threads: int | None = None,
) -> SampledFrames:
    """Decode frames at ``times`` (seconds) or spread over the video; ``size`` is (w, h) shown.

    ``threads``: PyAV decoder threads; None plans them per file from the GOP structure, the
    codec and the cores this process may use (a worker whose model shares the cores may
    pass 1: more decoder threads then only take CPU from the model).
    """
    options = _Options(
        num_frames,
        None if times is None else tuple(float(t) for t in times),
        fps,
        min_frames,
        max_frames,
        size,
        max_duration_s,
        decoder,
        seek,
        threads,
    )
    options.validate(timeout_s)
    cancel = threading.Event()
    return run_with_timeout(
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


def run_with_timeout(work: Callable[[], _T], timeout_s: float, cancel: threading.Event) -> _T:
    """``work()`` in a daemon thread, given up on (and counted as stuck) after ``timeout_s``."""
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


@dataclass(frozen=True)
class _Plan:
    """What to decode: frames by index into the table, and keyframes by time."""

    picks: list[int]  # exact frames (seek="keyframe": the targets no keyframe serves)
    keyframes: list[float]  # seek="keyframe": one decoded picture each
    warnings: list[str]


def _sample(path: Path, options: _Options, cancel: threading.Event) -> SampledFrames:
    # One open container serves the headers, the packet index and the PyAV decoding.
    with open_media(path) as container:
        stream = choose_video_stream(container)
        tag = rotation_tag(stream)
        info = describe_stream(container, stream, tag or 0)
        _check_length(info.duration_s, options.max_duration_s)
        table = index_stream(container, stream, info.fps, cancel)
        if not table.times:
            raise NoDecodableFramesError(f"the {info.codec} video stream holds no frames")
        if len(table.times) == 1:
            raise_still_image(stream)
        _check_length(table.span_s, options.max_duration_s)  # for files whose header has none
        plan = _plan(table, options)
        decoded, used = _decode(path, container, stream, info, table, plan, options, tag, cancel)
    images, times = _strictly_increasing(decoded.images, decoded.times)
    wanted = len(plan.picks) + len(plan.keyframes)
    warnings = completeness_warnings(info, table) + plan.warnings
    warnings += damage_warnings(decoded.issues, len(images), wanted)
    if not images:
        raise NoDecodableFramesError(
            f"not one frame of the {info.codec} video could be decoded; the file is damaged"
        )
    # Headers of raw streams (.h264) state no duration or frame count: the table knows them.
    rotation = tag if tag is not None else (decoded.rotation or 0)
    video = _with_rotation(info, rotation).model_copy(
        update={
            "decoder": used,
            "duration_s": max(info.duration_s, table.span_s, times[-1]),
            "frame_count": info.frame_count or len(table.times),
        }
    )
    return SampledFrames(images=images, timestamps=times, video=video, warnings=warnings)


def _with_rotation(info: VideoInfo, rotation: int) -> VideoInfo:
    """``info`` with the rotation the decoded frames carry (display size follows it)."""
    if rotation == info.rotation:
        return info
    turned = (rotation in (90, 270)) != (info.rotation in (90, 270))
    width, height = (info.height, info.width) if turned else (info.width, info.height)
    return info.model_copy(
        update={
            "rotation": rotation,
            "width": width,
            "height": height,
            "orientation": orientation_of(width, height),
        }
    )


def _plan(table: FrameTable, options: _Options) -> _Plan:
    targets = options.targets(table.span_s)
    picks = pick_frames(table.times, targets)
    warnings: list[str] = []
    if options.times is None and len(picks) < len(targets):
        warnings.append(
            f"the video has only {len(table.times)} frames: sampled {len(picks)} of {len(targets)}"
        )
    if options.seek == "exact" or not table.timed or not table.keyframes:
        return _Plan(picks, [], warnings)
    served = keyframes_for(table.keyframes, [table.times[i] for i in picks], table.span_s)
    exact = [pick for pick, key in zip(picks, served, strict=True) if key is None]
    return _Plan(exact, [key for key in served if key is not None], warnings)


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


def _decode(
    path: Path,
    container: Any,
    stream: Any,
    info: VideoInfo,
    table: FrameTable,
    plan: _Plan,
    options: _Options,
    tag: int | None,
    cancel: threading.Event,
) -> tuple[Decoded, str]:
    """The decoded frames and the decoder that served them; ``tag`` is the stream's rotate tag."""
    if options.decoder == "decord":
        return _decode_with_decord(path, container, stream, info, table, plan, options, tag, cancel)
    # "auto" is PyAV: planned per file on the packet index (seeks, threads, skipped frames)
    # it matches or beats decord on the rows of bench/bench_sampling.py, decodes every
    # codec this FFmpeg has (decord fails on AV1) and needs no cross-check of frame lists.
    with _decodable(path, container, stream, table) as (box, video):
        if not plan.keyframes:
            return _decode_exact(box, video, table, plan, options, tag, cancel), "pyav"
        open_decoder(video, threads=1, skip="NONKEY")
        decoded = decode_keyframes(box, video, plan.keyframes, options.size, tag, cancel)
    if plan.picks:
        # Targets no keyframe serves get their exact frames from a decoder of their own:
        # its threads cannot change once open, and keyframes want one, runs want more.
        with open_media(path) as again:
            rotation = tag if tag is not None else decoded.rotation
            exact = _decode_exact(
                again, again.streams[stream.index], table, plan, options, rotation, cancel
            )
        decoded = merge(decoded, exact)
    return decoded, "pyav"


def _decode_exact(
    container: Any,
    stream: Any,
    table: FrameTable,
    plan: _Plan,
    options: _Options,
    rotation: int | None,
    cancel: threading.Event,
) -> Decoded:
    codec = stream.codec_context.name
    threads = options.threads or plan_threads(table, plan.picks, available_cores(), codec)
    open_decoder(stream, threads=threads)
    decoded = decode_exact(container, stream, table, plan.picks, options.size, rotation, cancel)
    if decoded.issues:
        log.info("PyAV could not decode %d packets: %s", len(decoded.issues), decoded.issues[0])
    return decoded


@contextlib.contextmanager
def _decodable(
    path: Path, container: Any, stream: Any, table: FrameTable
) -> Iterator[tuple[Any, Any]]:
    """(container, stream) at the start of the stream: the indexed one, or a fresh one."""
    # Streams without timestamps (.h264) cannot seek reliably: those are opened again.
    if table.timed and rewind(container, stream):
        yield container, stream
        return
    with open_media(path) as fresh:
        yield fresh, fresh.streams[stream.index]


def _decode_with_decord(
    path: Path,
    container: Any,
    stream: Any,
    info: VideoInfo,
    table: FrameTable,
    plan: _Plan,
    options: _Options,
    tag: int | None,
    cancel: threading.Event,
) -> tuple[Decoded, str]:
    # decord decodes a keyframe's index as one picture
    keys = [bisect.bisect_left(table.times, key - 1e-9) for key in plan.keyframes]
    picks = sorted(plan.picks + keys)
    try:
        images = decode_with_decord(path, table, picks, options.size, cancel)
    except DecodeCancelled:
        raise
    except DecordMissing as err:
        raise InvalidOptionError("decoder 'decord' is not installed on this machine") from err
    except Exception as err:  # DecoderUnavailable, or decord's errors carrying C++ text
        log.info("%s: decord failed: %s", path.name, type(err).__name__)
        raise NoDecodableFramesError(
            f"decord cannot decode this {info.codec} video; use decoder 'auto' or 'pyav'"
        ) from None
    rotation = tag
    if rotation is None:  # decord turns frames itself; the result still reports the turn
        rotation = first_frame_rotation(container, stream) if rewind(container, stream) else 0
    times = [table.times[i] for i in picks]
    return Decoded(images=images, times=times, rotation=rotation), "decord"
