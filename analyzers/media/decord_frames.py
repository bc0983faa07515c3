"""decord, the fast, fragile reader: frames picked from the frame table, resized while decoding.

PyAV, the reader that is always there, lives in :mod:`analyzers.media.pyav_frames`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from analyzers.media.frame_table import DecodeCancelled, FrameTable

#: frames per decord get_batch call: between calls we look for a cancel request
_DECORD_CHUNK = 4


class DecoderUnavailable(Exception):
    """decord cannot serve this file here (not installed, cannot open it, sees other frames)."""


class DecordMissing(DecoderUnavailable):
    """decord is not installed: no wheel for this platform (aarch64), or left out."""


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
