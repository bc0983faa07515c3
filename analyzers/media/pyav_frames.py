"""PyAV decoding planned on the packet index: the exact frame per target, or the nearest keyframe.

Exact: the decoder decodes on from where it stands and seeks only when a keyframe
lies between there and the next wanted frame, so it never decodes more than one
sequential pass or one seek per target would, whichever the GOP structure makes
cheaper; frames nobody wants that no other frame refers to (most B-frames) are
skipped (``skip_frame=NONREF``). Keyframe: one seek and one decoded picture per
target. Both resize while converting (swscale) and run on the container the
sampler already opened to probe and index the file.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from analyzers.media.frame_table import DecodeCancelled, FrameTable
from analyzers.media.probe import frame_rotation, stream_start_s
from analyzers.media.pyav_demux import demux_packets

log = logging.getLogger(__name__)

#: undecodable packets tolerated before PyAV gives up on the rest of a damaged file
_MAX_DECODE_ERRORS = 200
#: frames decoded per seek from which frame threads pay for the pipeline they refill per seek
_FRAMES_PER_SEEK_FOR_THREADS = 48
#: codecs whose frame threads win even with a seek per target (measured: VP9, not H.264/AV1)
_THREADS_ALWAYS = frozenset({"vp9"})
#: decoders that read skip_frame while a packet is decoded; others (libdav1d) apply it when
#: a frame comes out, several packets later, so toggling it per packet would drop wanted ones
_SKIP_PER_PACKET = frozenset({"h264", "hevc"})


@dataclass(frozen=True)
class DecodeIssue:
    """A packet PyAV could not decode: where, and FFmpeg's one-line reason."""

    time_s: float
    reason: str


@dataclass
class Decoded:
    """What a PyAV pass gave: pictures, their own times, what failed, the rotation applied."""

    images: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    issues: list[DecodeIssue] = field(default_factory=list)
    rotation: int | None = None  # from the first decoded frame, None if nothing decoded


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_threads(table: FrameTable, picks: Sequence[int], cores: int, codec: str) -> int:
    """Decoder threads for an exact pass: frame threads where the runs between seeks pay."""
    # A frame-threaded decoder holds (threads - 1) frames in flight and refills that pipeline
    # after every seek: with short runs between seeks (a keyframe every 2 s, a target every
    # 4 s) one thread is faster for H.264, HEVC and AV1, even on a loaded machine
    # (bench/bench_sampling.py). Long runs (sparse keyframes, many targets), and VP9, whose
    # frames cost more to decode than the refill, gain from cores + 1 threads (FFmpeg's own
    # automatic count).
    if cores < 2 or not picks:
        return 1
    decoded, seeks = _planned_work(table, picks)
    long_runs = decoded >= _FRAMES_PER_SEEK_FOR_THREADS * max(1, seeks)
    return min(cores + 1, 8) if long_runs or codec in _THREADS_ALWAYS else 1


def _planned_work(table: FrameTable, picks: Sequence[int]) -> tuple[int, int]:
    """(frames decoded, seeks) of the exact plan, counted on the packet index."""
    times, keys = table.times, table.keyframes
    decoded = seeks = 0
    position = -1  # index of the last decoded frame
    for pick in picks:
        key_time = _keyframe_before(keys, times[pick])
        key = bisect.bisect_left(times, key_time - 1e-9)
        if position < 0 or key > position:
            seeks += 1
            position = key - 1
        decoded += pick - position
        position = pick
    return decoded, seeks


def open_decoder(stream: Any, threads: int, skip: str = "DEFAULT") -> None:
    """Set threading before the first packet opens the decoder (it cannot change after)."""
    if threads > 1:
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = threads
    else:
        stream.thread_type = "SLICE"  # free when the encoder wrote one slice per frame
        stream.codec_context.thread_count = 1
    stream.codec_context.skip_frame = skip


def decode_exact(
    container: Any,
    stream: Any,
    table: FrameTable,
    picks: Sequence[int],
    size: tuple[int, int] | None,
    rotation: int | None,
    cancel: threading.Event,
) -> Decoded:
    """Frames ``picks`` (indices into ``table``); ``rotation`` None: read it from the frames."""
    # Frames that do not decode are skipped; the caller decides whether what is left is
    # enough. The container must stand at the start of the stream (see rewind()).
    result = Decoded(rotation=rotation)
    wanted = [table.times[i] for i in picks]
    cursor = _Cursor(container, stream, table, wanted, cancel, result.issues)
    for n, target in enumerate(wanted):
        following = wanted[n + 1] if n + 1 < len(wanted) else math.inf
        found = cursor.frame_for(target, following)
        if found is _END:
            break
        if found is not None:
            _keep(result, found, cursor.position, size)
    return result


def keyframes_for(
    keyframes: Sequence[float], targets: Sequence[float], span_s: float
) -> list[float | None]:
    """Per target, the nearest keyframe inside the target's own share of the video, or None.

    A target's share runs halfway to its neighbours, so a keyframe serves one target at
    most and the frames stay spread as asked; where keyframes are sparser than the
    targets, the targets left without one are decoded exactly instead.
    """
    chosen: list[float | None] = []
    for n, target in enumerate(targets):
        low = (targets[n - 1] + target) / 2 if n else 0.0
        high = (target + targets[n + 1]) / 2 if n + 1 < len(targets) else span_s
        at = bisect.bisect_left(keyframes, target)
        near = [
            keyframes[i]
            for i in (at - 1, at)
            if 0 <= i < len(keyframes) and low <= keyframes[i] < high
        ]
        chosen.append(min(near, key=lambda key: abs(key - target)) if near else None)
    return chosen


def merge(first: Decoded, second: Decoded) -> Decoded:
    """Two passes' frames in time order (keyframes and the exact frames between them)."""
    pairs = sorted(
        zip(first.times + second.times, first.images + second.images, strict=True),
        key=lambda pair: pair[0],
    )
    return Decoded(
        images=[image for _, image in pairs],
        times=[moment for moment, _ in pairs],
        issues=first.issues + second.issues,
        rotation=first.rotation if first.rotation is not None else second.rotation,
    )


def decode_keyframes(
    container: Any,
    stream: Any,
    keyframes: Sequence[float],
    size: tuple[int, int] | None,
    rotation: int | None,
    cancel: threading.Event,
) -> Decoded:
    """One picture per keyframe time: seek to it, decode its packet alone, skip everything else."""
    # The decoder was opened with skip_frame=NONKEY and one thread, so the keyframe comes
    # out of the first packet (or of a drain), with no frame pipeline to refill per seek.
    result = Decoded(rotation=rotation)
    base = stream_start_s(stream)
    for key in keyframes:
        if cancel.is_set():
            raise DecodeCancelled
        if not _seek(container, stream, key + base):
            break
        found = _first_keyframe(container, stream, key, base, result.issues)
        if found is not None and (not result.times or found[1] > result.times[-1]):
            _keep(result, found[0], found[1], size)
    return result


def _first_keyframe(
    container: Any, stream: Any, key: float, base: float, issues: list[DecodeIssue]
) -> tuple[Any, float] | None:
    """The picture of keyframe ``key`` (or the next one), decoded from its packet alone."""
    # The demuxer may land on an earlier keyframe (Matroska cues name only some): packets
    # before the wanted one are read, not decoded. The time is the packet's: a drained
    # frame may come out without one.
    moment = 0.0
    try:
        for packet in demux_packets(container, stream):
            if packet.size == 0:
                break
            if not packet.is_keyframe:
                continue
            if packet.pts is not None and packet.time_base:
                moment = max(0.0, float(packet.pts * packet.time_base) - base)
                if moment < key - 1e-3:
                    continue
            frames = packet.decode() or _drain(stream.codec_context)
            if frames:
                return frames[0], moment
    except av.error.FFmpegError as err:
        issues.append(DecodeIssue(moment, _reason(err)))
    return None


def _keep(result: Decoded, frame: Any, moment: float, size: tuple[int, int] | None) -> None:
    if result.rotation is None:
        result.rotation = frame_rotation(frame)
    result.images.append(to_rgb(frame, size, result.rotation))
    result.times.append(moment)


_END = object()  # sentinel: nothing more can be decoded


class _Cursor:
    """Where a PyAV decoder stands in the stream, and how to get to a wanted frame."""

    def __init__(
        self,
        container: Any,
        stream: Any,
        table: FrameTable,
        wanted: Sequence[float],
        cancel: threading.Event,
        errors: list[DecodeIssue],
    ) -> None:
        self.container, self.stream, self.table, self.cancel = container, stream, table, cancel
        self.base = stream_start_s(stream)
        self.scale = float(stream.time_base or 0)
        self.slack = max(table.frame_interval / 4, 1e-4)
        self.wanted = sorted(wanted)
        self.errors = errors
        self.frames: Iterator[Any] | None = None
        self.position = -1.0  # display time of the last frame the decoder gave us
        self.pending: Any = None  # a frame pulled too far, kept for the target it belongs to
        self.counted = 0  # frames pulled, for streams without timestamps
        self.drain_at: float | None = None  # drain the decoder after this target's packet
        self.drained = False  # it was: it needs a seek (flush) before the next packet

    def frame_for(self, target: float, following: float) -> Any:
        """The frame shown at ``target``; None to skip a target whose frame is lost; _END."""
        if self.pending is None:
            self._seek_if_cheaper(target)
            # When the next target needs a seek anyway (or there is none), the decoder is
            # drained right after the target's packet: the frames a frame-threaded or
            # reordering decoder would decode past it are never needed.
            self.drain_at = target if self._seek_needed(target, following) else None
            frame = self._first_from(target - self.slack)
            if frame is None:
                if self.drained:
                    return None  # the target's frame did not come out of the drain
                return _END
        else:
            frame, self.pending = self.pending, None
        if self.position - target > (following - target) / 2:
            # The wanted frame did not decode and the next good one is nearer the following
            # target: leave it to that one rather than return near-duplicates.
            self.pending = frame
            return None
        return frame

    def _seek_needed(self, target: float, following: float) -> bool:
        if not self.table.timed:
            return False
        return following == math.inf or (
            _keyframe_before(self.table.keyframes, following) > target + self.slack
        )

    def _seek_if_cheaper(self, target: float) -> None:
        key = _keyframe_before(self.table.keyframes, target)
        if self.drained:
            # A drained decoder takes no more packets until it is flushed, as a seek does.
            self.drained = False
            if not _seek(self.container, self.stream, key + self.base):
                self.stream.codec_context.flush_buffers()
            self.frames = self._decoded_frames()
            return
        if self.frames is not None and (key <= self.position + self.slack or not self.table.timed):
            return  # no keyframe between here and the target: decoding on is cheapest
        if (
            self.table.timed
            and (self.frames is not None or key > self.slack)
            and _seek(self.container, self.stream, key + self.base)
        ):
            self.frames = None
        if self.frames is None:
            self.frames = self._decoded_frames()

    def _first_from(self, threshold: float) -> Any:
        assert self.frames is not None
        for frame in self.frames:
            self.position = self._time_of(frame)
            if self.position >= threshold:
                return frame
        return None

    def _time_of(self, frame: Any) -> float:
        self.counted += 1
        if self.table.timed and frame.pts is not None:
            # pts in the stream's time base: frames drained with decode(None) carry no
            # time_base of their own, so frame.time would be NaN.
            return max(0.0, float(frame.pts) * self.scale - self.base)
        # No timestamps: the n-th frame decoded from the start is the n-th in the table.
        return self.table.times[min(self.counted, len(self.table.times)) - 1]

    def _is_wanted(self, moment: float) -> bool:
        at = bisect.bisect_left(self.wanted, moment - self.slack)
        return at < len(self.wanted) and self.wanted[at] <= moment + self.slack

    def _drain_here(self, moment: float) -> bool:
        if self.drain_at is None or abs(moment - self.drain_at) > self.slack:
            return False
        self.drained = True
        return True

    def _decoded_frames(self) -> Iterator[Any]:
        """Every frame from the demuxer's position on, skipping packets that do not decode."""
        # FFmpeg conceals a damaged packet in the frames after it, so going on usually yields
        # watchable pictures where stopping at the first error would yield none.
        context, base = self.stream.codec_context, self.base
        may_skip = self.table.timed and context.name in _SKIP_PER_PACKET
        skipping = False
        last = 0.0
        try:
            for packet in demux_packets(self.container, self.stream):
                if self.cancel.is_set():
                    raise DecodeCancelled
                if packet.pts is not None and packet.time_base:
                    last = max(0.0, float(packet.pts * packet.time_base) - base)
                    # Skipping is decided per packet: only frames nobody refers to, and
                    # never a wanted one. The frame threads read the flag as they take it.
                    skip = may_skip and not self._is_wanted(last)
                    if skip != skipping:
                        context.skip_frame = "NONREF" if skip else "DEFAULT"
                        skipping = skip
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as err:
                    self.errors.append(DecodeIssue(last, _reason(err)))
                    if len(self.errors) > _MAX_DECODE_ERRORS:
                        return
                    continue
                if packet.size and self._drain_here(last):
                    yield from [*decoded, *_drain(context)]
                    return
                yield from decoded
        except av.error.FFmpegError as err:  # the demuxer itself failed: no more data
            self.errors.append(DecodeIssue(last, _reason(err)))


def _drain(context: Any) -> list[Any]:
    """The frames a decoder still holds; none if the end of the file drained it already."""
    try:
        return list(context.decode(None))
    except av.error.FFmpegError:  # EOF: PyAV sent the end-of-stream packet itself
        return []


def rewind(container: Any, stream: Any) -> bool:
    """Put the demuxer back at the stream's first packet; False when the file cannot seek."""
    return _seek(container, stream, stream_start_s(stream))


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


def _reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or type(err).__name__)


def to_rgb(
    frame: Any, size: tuple[int, int] | None, rotation: int, reformatter: Any = None
) -> np.ndarray:
    """RGB uint8 HxWx3 in display orientation; ``size`` is (width, height) as displayed.

    ``reformatter``: a VideoReformatter to reuse (its swscale context) across frames."""
    if size is None:
        array = frame.to_ndarray(format="rgb24")
    else:
        width, height = size
        if rotation in (90, 270):  # swscale works on the stored picture: scale, then turn
            width, height = height, width
        if reformatter is None:
            array = frame.to_ndarray(format="rgb24", width=width, height=height)
        else:
            array = reformatter.reformat(
                frame, width=width, height=height, format="rgb24"
            ).to_ndarray()
    turns = (-rotation // 90) % 4  # np.rot90 turns counter-clockwise; rotation is clockwise
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else np.asarray(array)
