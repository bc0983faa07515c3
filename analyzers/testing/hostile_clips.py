"""Small files that ask for much: hundreds of streams, giant frames (the media limits' tests)."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_many_streams(path: Path, streams: int = 300, frames: int = 2) -> Path:
    """An MP4 holding ``streams`` tiny video streams of ``frames`` 16x16 frames each."""
    with av.open(str(path), "w", format="mp4") as out:
        encoders = []
        for _ in range(streams):
            stream = out.add_stream("mpeg4", rate=Fraction(10))
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
            encoders.append(stream)
        picture = np.zeros((16, 16, 3), dtype=np.uint8)
        for _ in range(frames):
            for stream in encoders:
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                out.mux(stream.encode(frame))
        for stream in encoders:
            out.mux(stream.encode(None))
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zero_rows(width: int, height: int) -> bytes:
    # Rows of filter byte 0 and 1-bit pixels of colour 0, compressed a slice at a time.
    pack = zlib.compressobj(9)
    row = bytes((width + 7) // 8 + 1)
    step = max(1, (1 << 22) // len(row))
    parts = [pack.compress(row * min(step, height - y)) for y in range(0, height, step)]
    return b"".join(parts) + pack.flush()


def make_giant_apng(path: Path, width: int = 16000, height: int = 16000, frames: int = 2) -> Path:
    """An animated PNG of ``frames`` black ``width`` x ``height`` frames, tens of KB on disk."""
    data = _zero_rows(width, height)
    # 1-bit palette: quick to make, yet FFmpeg decodes each frame to full-size RGBA.
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)
    parts = [
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", ihdr),
        _chunk(b"PLTE", bytes(3) + b"\xff" * 3),
        _chunk(b"acTL", struct.pack(">II", frames, 0)),
    ]
    sequence = 0
    for index in range(frames):
        control = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 10, 0, 0)
        parts.append(_chunk(b"fcTL", control))
        sequence += 1
        if index == 0:
            parts.append(_chunk(b"IDAT", data))
        else:
            parts.append(_chunk(b"fdAT", struct.pack(">I", sequence) + data))
            sequence += 1
    parts.append(_chunk(b"IEND", b""))
    path.write_bytes(b"".join(parts))
    return path
