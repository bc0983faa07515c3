"""The frame table both decoders pick from, and decord, the fast, fragile one.

PyAV, the decoder that is always there, lives in :mod:`analyzers.pyav_frames`. The
:class:`FrameTable` is built by demuxing the chosen stream without decoding it. It is
the ground truth: it lists the frames whose data is really in the file, so neither
decoder is ever asked for a frame index that a container's header merely promised.
"""

from __future__ import annotations

import functools
import logging
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import numpy as np

from analyzers.probe import open_media, stream_start_s
from analyzers.pyav_demux import demux_packets

log = logging.getLogger(__name__)

#: frames per decord get_batch call: between calls we look for a cancel request
_DECORD_CHUNK = 4


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

    @functools.cached_property
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
    with open_media(path) as container:
        return index_stream(container, container.streams[stream_index], fps, cancel)


def index_stream(container: Any, stream: Any, fps: float, cancel: threading.Event) -> FrameTable:
    """index_frames on an open container, which is left at the end of the file."""
    # The packet index is read from the demuxer, not from the header: it lists only frames
    # whose data really is in the file, and it tells the GOP structure the PyAV decoder
    # plans its seeks with (analyzers.pyav_frames).
    stamps: list[int | None] = []
    keys: list[bool] = []
    complete = True
    try:
        for packet in demux_packets(container, stream):
            if cancel.is_set():
                raise DecodeCancelled
            # size 0 marks PyAV's end-of-stream flush; discard marks frames an edit list cut.
            if packet.size == 0 or packet.is_discard:
                continue
            pts = packet.pts
            stamps.append(pts if pts is not None else packet.dts)
            keys.append(packet.is_keyframe)
    except av.error.FFmpegError as err:
        log.info("demuxing stopped early: %s", err)
        complete = False
    base, time_base = stream_start_s(stream), stream.time_base
    known = [s for s in stamps if s is not None]
    timed = bool(known) and len(known) == len(stamps) and bool(time_base)
    if timed:
        scale = float(time_base)  # floats, not Fractions: 10x faster on 5,000 packets
        times = [max(0.0, s * scale - base) for s in known]
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
