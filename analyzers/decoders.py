"""The two frame decoders behind sampling: decord (fast, fragile) and PyAV (always there).

Both decode frames picked from one :class:`FrameTable`, built by demuxing the
chosen stream without decoding it. The table is the ground truth: it lists the
frames whose data is really in the file, so neither decoder is ever asked for a
frame index that a container's header merely promised.
"""

from __future__ import annotations

import bisect
import logging
import math
import statistics
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import numpy as np

from analyzers.probe import open_media, stream_start_s

log = logging.getLogger(__name__)

#: frames per decord get_batch call: between calls we look for a cancel request
_DECORD_CHUNK = 4
#: undecodable packets tolerated before PyAV gives up on the rest of a damaged file
_MAX_DECODE_ERRORS = 200


class DecodeCancelled(Exception):
    """The caller stopped waiting (timeout); the decoding thread winds down."""


class DecoderUnavailable(Exception):
    """decord cannot serve this file here (not installed, cannot open it, sees other frames)."""


class DecordMissing(DecoderUnavailable):
    """decord is not installed: no wheel for this platform (aarch64), or left out."""


@dataclass(frozen=True)
class FrameTable:
    """Presentation times of the frames really present in one video stream."""

    times: list[float]  # seconds from the stream's first frame, ascending
    keyframes: list[float]  # times of the frames decoding can start from
    complete: bool  # the demuxer reached the end of the file without an error
    timed: bool = True  # False: the stream has no timestamps, times assume a constant rate

    @property
    def frame_interval(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return statistics.median(b - a for a, b in zip(self.times, self.times[1:], strict=False))

    @property
    def span_s(self) -> float:
        """Time from the first frame to the end of the last one."""
        return self.times[-1] + self.frame_interval if self.times else 0.0


def index_frames(
    path: str | Path, stream_index: int, fps: float, cancel: threading.Event
) -> FrameTable:
    """Demux (not decode) the stream once: which frames exist, when, and which are keyframes."""
    stamps: list[int | None] = []
    keys: list[bool] = []
    complete = True
    with open_media(path) as container:
        stream = container.streams[stream_index]
        try:
            for packet in container.demux(stream):
                if cancel.is_set():
                    raise DecodeCancelled
                # size 0 marks PyAV's end-of-stream flush; discard marks frames an edit list cut.
                if packet.size == 0 or packet.is_discard:
                    continue
                stamps.append(packet.pts if packet.pts is not None else packet.dts)
                keys.append(bool(packet.is_keyframe))
        except av.error.FFmpegError as err:
            log.info("demuxing stopped early: %s", err)
            complete = False
        base, time_base = stream_start_s(stream), stream.time_base
    known = [s for s in stamps if s is not None]
    timed = bool(known) and len(known) == len(stamps) and bool(time_base)
    if timed:
        times = [max(0.0, float(s * time_base) - base) for s in known]
    else:
        # Elementary streams (.h264) may carry no timestamps at all: assume a constant rate.
        times = [i / fps if fps > 0 else float(i) for i in range(len(stamps))]
    keyframes = sorted(t for t, key in zip(times, keys, strict=True) if key)
    return FrameTable(sorted(times), keyframes, complete, timed)  # sorted: display order


def import_decord() -> ModuleType:
    """The decord module, imported on each use so a test can hide it as aarch64 would."""
    try:
        import decord
    except ImportError as err:
        raise DecordMissing(f"decord is not installed ({err})") from None
    # decord's bundled FFmpeg writes straight to fd 2, past the service's logging, about
    # files PyAV then decodes anyway; our own log line says why decord was passed over.
    decord.logging.set_level(decord.logging.QUIET)
    module: ModuleType = decord
    return module


def decode_with_decord(
    path: str | Path,
    table: FrameTable,
    picks: Sequence[int],
    size: tuple[int, int] | None,
    cancel: threading.Event,
) -> list[np.ndarray]:
    """Frames ``picks`` (indices into ``table``) with decord, resized while decoding."""
    decord = import_decord()
    width, height = size if size else (-1, -1)  # decord's width/height are display sizes
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
    except Exception as err:  # decord raises bare C++ errors; the details stay in the log
        raise DecoderUnavailable(f"decord cannot open the file ({type(err).__name__})") from None
    _check_same_frames(reader, table, picks)
    images: list[np.ndarray] = []
    for start in range(0, len(picks), _DECORD_CHUNK):
        if cancel.is_set():
            raise DecodeCancelled
        batch = reader.get_batch(list(picks[start : start + _DECORD_CHUNK]))
        # The global decord bridge may have been switched to torch by other code.
        array = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
        images.extend(np.ascontiguousarray(frame) for frame in array)
    return images


def _check_same_frames(reader: Any, table: FrameTable, picks: Sequence[int]) -> None:
    # decord picks its stream with av_find_best_stream in its own (older) FFmpeg and cannot
    # be told which one to use; it also trusts frame counts from headers. If its frame list
    # differs from what the file really holds in the stream we chose (another stream, a
    # truncated file, an over-reported count), its indices would point at other pictures:
    # refuse, and let PyAV decode the stream we chose.
    count = len(reader)
    if count != len(table.times):
        raise DecoderUnavailable(f"decord sees {count} frames, the stream has {len(table.times)}")
    theirs = np.asarray(reader.get_frame_timestamp(list(picks)))[:, 0]
    first = float(np.asarray(reader.get_frame_timestamp([0]))[0, 0])
    tolerance = max(table.frame_interval / 2, 1e-3)
    ours_first = table.times[0]
    for index, their_time in zip(picks, theirs, strict=True):
        if abs((float(their_time) - first) - (table.times[index] - ours_first)) > tolerance:
            raise DecoderUnavailable(f"decord's frame {index} is at another time")


@dataclass(frozen=True)
class DecodeIssue:
    """A packet PyAV could not decode: where, and FFmpeg's one-line reason."""

    time_s: float
    reason: str


def decode_with_pyav(
    path: str | Path,
    stream_index: int,
    table: FrameTable,
    picks: Sequence[int],
    size: tuple[int, int] | None,
    rotation: int,
    cancel: threading.Event,
) -> tuple[list[np.ndarray], list[float], list[DecodeIssue]]:
    """Frames ``picks`` with PyAV: (images, their times, packets that did not decode)."""
    # Decodes on from where the decoder stands and seeks only when a keyframe lies between
    # there and the next wanted frame: never more decoding than one sequential pass or one
    # seek per frame (bench/bench_sampling.py measures all three). Frames that do not
    # decode are skipped; the caller decides whether what is left is enough.
    images: list[np.ndarray] = []
    times: list[float] = []
    wanted = [table.times[i] for i in picks]
    with open_media(path) as container:
        cursor = _Cursor(container, container.streams[stream_index], table, cancel)
        for n, target in enumerate(wanted):
            following = wanted[n + 1] if n + 1 < len(wanted) else math.inf
            found = cursor.frame_for(target, following)
            if found is _END:
                break
            if found is not None:
                images.append(_to_rgb(found, size, rotation))
                times.append(cursor.position)
    return images, times, cursor.errors


_END = object()  # sentinel: nothing more can be decoded


class _Cursor:
    """Where a PyAV decoder stands in the stream, and how to get to a wanted frame."""

    def __init__(
        self, container: Any, stream: Any, table: FrameTable, cancel: threading.Event
    ) -> None:
        stream.thread_type = "AUTO"  # frame + slice threads
        self.container, self.stream, self.table, self.cancel = container, stream, table, cancel
        self.base = stream_start_s(stream)
        self.slack = max(table.frame_interval / 4, 1e-4)
        self.errors: list[DecodeIssue] = []
        self.frames: Iterator[Any] | None = None
        self.position = -1.0  # display time of the last frame the decoder gave us
        self.pending: Any = None  # a frame pulled too far, kept for the target it belongs to
        self.counted = 0  # frames pulled, for streams without timestamps

    def frame_for(self, target: float, following: float) -> Any:
        """The frame shown at ``target``; None to skip a target whose frame is lost; _END."""
        if self.pending is None:
            self._seek_if_cheaper(target)
            frame = self._first_from(target - self.slack)
            if frame is None:
                return _END
        else:
            frame, self.pending = self.pending, None
        if self.position - target > (following - target) / 2:
            # The wanted frame did not decode and the next good one is nearer the following
            # target: leave it to that one rather than return near-duplicates.
            self.pending = frame
            return None
        return frame

    def _seek_if_cheaper(self, target: float) -> None:
        key = _keyframe_before(self.table.keyframes, target)
        if self.frames is not None and (key <= self.position + self.slack or not self.table.timed):
            return  # no keyframe between here and the target: decoding on is cheapest
        if (
            self.table.timed
            and (self.frames is not None or key > self.slack)
            and _seek(self.container, self.stream, key + self.base)
        ):
            self.frames = None
        if self.frames is None:
            self.frames = _decoded_frames(
                self.container, self.stream, self.base, self.errors, self.cancel
            )

    def _first_from(self, threshold: float) -> Any:
        assert self.frames is not None
        for frame in self.frames:
            self.position = self._time_of(frame)
            if self.position >= threshold:
                return frame
        return None

    def _time_of(self, frame: Any) -> float:
        self.counted += 1
        if self.table.timed and frame.time is not None:
            return max(0.0, float(frame.time) - self.base)
        # No timestamps: the n-th frame decoded from the start is the n-th in the table.
        return self.table.times[min(self.counted, len(self.table.times)) - 1]


def _keyframe_before(keyframes: list[float], target: float) -> float:
    at = bisect.bisect_right(keyframes, target + 1e-9)
    return keyframes[at - 1] if at else 0.0


def _seek(container: Any, stream: Any, seconds: float) -> bool:
    try:
        container.seek(round(seconds / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError as err:
        log.info("seek failed (%s); decoding on sequentially", err)
        return False
    return True


def _decoded_frames(
    container: Any, stream: Any, base: float, errors: list[DecodeIssue], cancel: threading.Event
) -> Iterator[Any]:
    """Every frame from the demuxer's position on, skipping packets that do not decode."""
    # FFmpeg conceals a damaged packet in the frames after it, so going on usually yields
    # watchable pictures where stopping at the first error would yield none.
    last = 0.0
    try:
        for packet in container.demux(stream):
            if cancel.is_set():
                raise DecodeCancelled
            if packet.pts is not None and packet.time_base:
                last = max(0.0, float(packet.pts * packet.time_base) - base)
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:
                errors.append(DecodeIssue(last, _reason(err)))
                if len(errors) > _MAX_DECODE_ERRORS:
                    return
                continue
            yield from decoded
    except av.error.FFmpegError as err:  # the demuxer itself failed: no more data
        errors.append(DecodeIssue(last, _reason(err)))


def _reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or type(err).__name__)


def _to_rgb(frame: Any, size: tuple[int, int] | None, rotation: int) -> np.ndarray:
    """RGB uint8 HxWx3 in display orientation; ``size`` is (width, height) as displayed."""
    if size is None:
        array = frame.to_ndarray(format="rgb24")
    else:
        width, height = size
        if rotation in (90, 270):  # swscale works on the stored picture: scale, then turn
            width, height = height, width
        array = frame.to_ndarray(format="rgb24", width=width, height=height)
    turns = (-rotation // 90) % 4  # np.rot90 turns counter-clockwise; rotation is clockwise
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else np.asarray(array)
