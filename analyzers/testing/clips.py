"""Test clips generated on the spot with PyAV, so no binary fixture lives in git.

Every generated video frame carries its own frame number as a row of black/white
cells (bit k of the number in cell k, least significant bit on the left) across
the top band of the *stored* picture, so a test can tell exactly which frame a
decoder returned, even after a resize to 224x224. Below the band, a gradient that
moves with time and a frame-dependent colour make consecutive frames differ.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: cells in the frame-number band: enough for 2**12 = 4096 frames (136 s at 30 fps)
CODE_BITS = 12
#: fraction of the stored height taken by the frame-number band
BAND_FRACTION = 0.15


def _code_band(width: int, height: int) -> tuple[int, int]:
    """(rows, cell width) of the frame-number band in a stored picture of this size."""
    return max(8, int(height * BAND_FRACTION)) // 2 * 2, width // CODE_BITS


class _FramePainter:
    """Paints frame ``index`` straight into a yuv420p buffer: no RGB conversion per frame."""

    def __init__(self, width: int, height: int, total: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even size, got {width}x{height}")
        self.width, self.height, self.total = width, height, total
        self.band, self.cell = _code_band(width, height)
        ramp = np.linspace(16, 235, width, dtype=np.float32).astype(np.uint8)
        self.luma_ramp = np.broadcast_to(ramp, (height, width))
        chroma_ramp = np.linspace(40, 216, height // 2, dtype=np.float32).astype(np.uint8)
        self.u_plane = np.broadcast_to(chroma_ramp[:, None], (height // 2, width // 2)).copy()
        self.u_plane[: self.band // 2] = 128  # neutral chroma: the band stays black and white
        self.buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)

    def paint(self, index: int) -> np.ndarray:
        h, w, band, cell = self.height, self.width, self.band, self.cell
        y = self.buffer[:h]
        np.add(self.luma_ramp, np.uint8((index * 4) % 256), out=y)  # wraps: the picture moves
        for bit in range(CODE_BITS):
            y[:band, bit * cell : (bit + 1) * cell] = 235 if (index >> bit) & 1 else 16
        y[:band, CODE_BITS * cell :] = 16
        # yuv420p keeps U then V as quarter-size planes packed two rows per buffer row
        u = self.buffer[h : h + h // 4].reshape(h // 2, w // 2)
        v = self.buffer[h + h // 4 :].reshape(h // 2, w // 2)
        u[:] = self.u_plane
        v[:] = round(16 + 224 * index / max(1, self.total - 1))
        v[: band // 2] = 128
        return self.buffer


def read_frame_number(image: np.ndarray, rotation: int = 0) -> int:
    """Frame number make_video wrote, from an RGB frame turned ``rotation`` for display."""
    # The band is at the top of the stored picture: undo the display turn first.
    stored = np.rot90(image, k=(rotation // 90) % 4)
    height, width = stored.shape[:2]
    band, cell = _code_band(width, height)
    luma = stored[: band * 3 // 4, :, :].astype(np.float32).mean(axis=2)
    number = 0
    for bit in range(CODE_BITS):
        # Sample the middle of each cell: edges blur under chroma subsampling and resizing.
        lo, hi = bit * cell + cell // 4, (bit + 1) * cell - cell // 4
        if luma[band // 8 :, lo:hi].mean() > 127:
            number |= 1 << bit
    return number


def make_video(
    path: Path,
    *,
    width: int,
    height: int,
    duration_s: float,
    fps: int = 30,
    codec: str = "libx264",
    rotation: int = 0,
    audio: bool = False,
    keyint_s: float = 2.0,
    preset: str = "ultrafast",
    faststart: bool = True,
) -> Path:
    """Encode a test video of ``width`` x ``height`` stored pixels, shown turned ``rotation``."""
    # rotation: clockwise, written as container metadata (90 shows 1280x720 as portrait).
    # keyint_s: keyframe interval; phones and TikTok use a few seconds.
    # preset (x264/x265): "ultrafast" encodes fastest but also decodes unusually fast (no
    # CABAC, B-frames or deblocking); "superfast"/"veryfast" are closer to phone uploads.
    # faststart: MP4 index first, as web uploads have it; phones write it last.
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    path = Path(path)
    total = max(1, round(duration_s * fps))
    is_mp4 = path.suffix.lower() in {".mp4", ".mov"}
    options = {"movflags": "+faststart"} if faststart and is_mp4 else {}
    with _keeping_scheduler(), av.open(str(path), mode="w", options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.gop_size = max(1, round(keyint_s * fps))
        stream.options = _encoder_options(codec, preset)
        if rotation % 360:
            # PyAV's angle is counter-clockwise (as VideoFrame.rotation reads back);
            # the 'rotate' tag phones write is clockwise.
            stream.set_display_rotation(-(rotation % 360))
        audio_stream = _add_audio(out) if audio else None
        painter = _FramePainter(width, height, total)
        for index in range(total):
            frame = av.VideoFrame.from_ndarray(painter.paint(index), format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if audio_stream is not None:
            _write_tone(out, audio_stream, duration_s)
    return path


@contextmanager
def _keeping_scheduler() -> Iterator[None]:
    """Put the calling thread's CPU scheduling back as it was after an encode.

    SVT-AV1 switches the thread that opens it to SCHED_FIFO where it may (as root): every
    process started from it afterwards then runs real-time too, and on two cores a spinning
    real-time process (podman's copier) starves the rest of the machine.
    """
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if (os.sched_getscheduler(0), os.sched_getparam(0)) != (policy, param):
            os.sched_setscheduler(0, policy, param)


def _encoder_options(codec: str, preset: str) -> dict[str, str]:
    # The fastest settings each encoder has: tests need the pictures, not the quality.
    if codec in {"libx264", "libx265"}:
        return {"preset": preset, "crf": "28"}
    if codec == "libvpx-vp9":
        return {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"}
    if codec == "libsvtav1":
        return {"preset": "12", "crf": "45"}
    return {}


def _add_audio(
    out: av.container.OutputContainer, aac_rate: int = 48000
) -> av.audio.stream.AudioStream:
    """A mono audio stream: Opus in WebM/Matroska (always 48 kHz), else AAC at ``aac_rate``."""
    codec = "libopus" if out.format.name in {"webm", "matroska"} else "aac"
    stream = out.add_stream(codec, rate=48000 if codec == "libopus" else aac_rate)
    stream.layout = "mono"
    return stream


def _write_tone(
    out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, duration_s: float
) -> None:
    rate, chunk = 48000, 960
    samples_total = int(duration_s * rate)
    fmt = stream.format.name
    for start in range(0, samples_total, chunk):
        t = (np.arange(start, start + chunk) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t))[None, :]
        tone = (tone * 32767).astype(np.int16) if fmt.startswith("s16") else tone.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_audio_only(path: Path, duration_s: float = 2.0) -> Path:
    """A file with one AAC audio stream and no video (like a podcast saved as .mp4)."""
    path = Path(path)
    with av.open(str(path), mode="w") as out:
        _write_tone(out, _add_audio(out), duration_s)
    return path


def make_image_file(path: Path, width: int = 64, height: int = 48) -> Path:
    """A still PNG image saved under whatever name is given (e.g. clip.mp4)."""
    from PIL import Image

    path = Path(path)
    ramp = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    pixels = np.stack([np.broadcast_to(ramp, (height, width))] * 3, axis=2)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="PNG")
    return path


def make_animation(path: Path, frames: int) -> Path:
    """A GIF or WebP of ``frames`` 120x96 pictures, 100 ms each, frame number in the band."""
    from PIL import Image

    painted = [Image.fromarray(_numbered_picture(i, 120, 96)) for i in range(frames)]
    painted[0].save(
        path, save_all=frames > 1, append_images=painted[1:], duration=100, loop=0, lossless=True
    )
    return Path(path)


def _numbered_picture(number: int, width: int, height: int) -> np.ndarray:
    # The band make_video paints (read_frame_number reads it), on a flat grey picture.
    band, cell = _code_band(width, height)
    picture = np.full((height, width, 3), 90, dtype=np.uint8)
    picture[:band] = 16
    for bit in range(CODE_BITS):
        if (number >> bit) & 1:
            picture[:band, bit * cell : (bit + 1) * cell] = 235
    return picture


def make_text_file(path: Path) -> Path:
    """Plain text saved under a video's name."""
    path = Path(path)
    path.write_text("this is not a video, just some words\n" * 20)
    return path


def make_truncated_video(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` of src's bytes, as an upload cut short leaves it."""
    # With the index first (faststart) the container still promises every frame, but only
    # part of their data is there: the over-reported frame count decoders trip on.
    src, dst = Path(src), Path(dst)
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def make_empty_file(path: Path) -> Path:
    """Zero bytes."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def make_damaged_video(src: Path, dst: Path, start: float = 0.4, end: float = 0.6) -> Path:
    """src with noise over its media data between fractions ``start`` and ``end``."""
    # The container (index first) stays readable; the frames stored there do not decode.
    data = bytearray(Path(src).read_bytes())
    at = data.find(b"mdat")
    if at < 0:
        raise ValueError(f"{src} has no mdat box: make_damaged_video needs an MP4/MOV")
    first = at + 4
    lo, hi = first + int((len(data) - first) * start), first + int((len(data) - first) * end)
    noise = np.random.default_rng(1234).integers(0, 256, hi - lo, dtype=np.uint8)
    data[lo:hi] = noise.tobytes()
    Path(dst).write_bytes(bytes(data))
    return Path(dst)
