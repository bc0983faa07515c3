"""What a video file holds, read with PyAV before any frame is sampled."""

from __future__ import annotations

import contextlib
import math
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import av

from analyzers.errors import EmptyFileError, NotAVideoError, NoVideoStreamError
from analyzers.media import limits
from analyzers.media.pyav_demux import demux_packets
from analyzers.schema import Orientation, VideoInfo

#: packets read at most while looking for the first frame (which carries the rotation)
_FIRST_FRAME_PACKETS = 64


@contextlib.contextmanager
def open_media(path: str | Path) -> Iterator[Any]:
    """Open ``path`` with PyAV within the media limits; every failure a one-line InputError."""
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError:
        raise NotAVideoError("the file does not exist") from None
    except OSError as err:
        raise NotAVideoError(f"the file cannot be read ({err.strerror or err})") from None
    # Pipes and devices cannot be read twice (we probe, then decode), and can block forever.
    if not stat.S_ISREG(info.st_mode):
        raise NotAVideoError("not a regular file (a pipe, device or folder); save it to a file")
    if info.st_size == 0:
        raise EmptyFileError("the file is empty (0 bytes)")
    bounds = limits.current()
    try:
        container = av.open(str(file), metadata_errors="ignore", options=bounds.open_options())
    except av.error.MemoryError:
        # The demuxer's answer when a file declares more streams than max_streams allows.
        raise bounds.too_many_streams() from None
    except av.error.InvalidDataError:
        kind = _container_signature(file)
        if kind:
            raise NotAVideoError(
                f"the file starts like {kind} video but cannot be read: it is incomplete "
                "or damaged (cut short while uploading or copying?)"
            ) from None
        raise NotAVideoError(
            "the file is not a video: its data is in no container format we know"
        ) from None
    except (av.error.FFmpegError, OSError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise NotAVideoError(f"the file cannot be opened as a video ({reason})") from None
    try:
        bounds.check_streams(len(container.streams))
        yield container
    finally:
        container.close()


def _container_signature(file: Path) -> str:
    """The video container the first bytes announce, or "" (for a more useful error)."""
    try:
        with file.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return ""
    if head[4:8] == b"ftyp":  # ISO base media: MP4, MOV, 3GP; the index may be at the end
        return "an MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI"
    return ""


def is_still_image_format(format_name: str) -> bool:
    """True for FFmpeg's single-picture demuxers (png_pipe, jpeg_pipe, webp_pipe, image2 ...)."""
    return format_name.endswith("_pipe") or format_name in {"image2", "tty"}


def choose_video_stream(container: Any) -> Any:
    """The video stream to analyse: FFmpeg's own choice (av_find_best_stream)."""
    # av_find_best_stream is also how decord picks its stream, so both decoders agree on
    # "the" video whenever their FFmpeg versions rank alike; the sampler checks that they
    # do before trusting decord (analyzers.media.decord_frames._check_same_frames).
    format_name = container.format.name
    if is_still_image_format(format_name):
        kind = format_name.removesuffix("_pipe")
        # FFmpeg's WebP decoder reads one picture; an animated WebP fails on its first frame.
        extra = "; animated WebP is not supported, convert it to MP4" if kind == "webp" else ""
        raise NotAVideoError(f"the file is a still image ({kind}), not a video{extra}")
    videos = [s for s in container.streams.video if not _is_cover_art(s)]
    stream = container.streams.best("video") if videos else None
    if stream is None or _is_cover_art(stream):
        stream = videos[0] if videos else None
    if stream is None:
        raise NoVideoStreamError(f"the file has no video stream (it holds {_describe(container)})")
    limits.current().check_frame(int(stream.codec_context.width), int(stream.codec_context.height))
    if stream.frames == 1:
        raise_still_image(stream)
    return stream


def raise_still_image(stream: Any) -> NoReturn:
    """Refuse a video stream that holds one picture: a still image in a video container."""
    # One rule for every container: a one-frame GIF, MP4 or AVIF is a picture, not a video.
    raise NotAVideoError(
        f"the file is a still image ({_codec_name(stream)}, a single frame), not a video"
    )


def probe_video(path: str | Path) -> VideoInfo:
    """Read duration, frame rate, size, rotation and codec of the file's video stream."""
    with open_media(path) as container:
        stream = choose_video_stream(container)
        rotation = rotation_tag(stream)
        first_rotation, pictures = _peek(container, stream)
        if pictures == 1:
            raise_still_image(stream)
        return describe_stream(container, stream, first_rotation if rotation is None else rotation)


def describe_stream(container: Any, stream: Any, rotation: int) -> VideoInfo:
    """VideoInfo from the headers of an open container (nothing decoded); decoder left empty."""
    stored_w, stored_h = int(stream.codec_context.width), int(stream.codec_context.height)
    width, height = (stored_h, stored_w) if rotation in (90, 270) else (stored_w, stored_h)
    fps = _fps(stream)
    duration = _duration(container, stream)
    frames = int(stream.frames or 0)
    if frames <= 0 and duration > 0 and fps > 0:
        frames = max(1, round(duration * fps))
    if duration <= 0 < frames and fps > 0:
        duration = frames / fps
    return VideoInfo(
        duration_s=round(duration, 6),
        fps=round(fps, 6),
        frame_count=frames,
        width=width,
        height=height,
        orientation=orientation_of(width, height),
        codec=_codec_name(stream),
        has_audio=any(s.type == "audio" for s in container.streams),
        rotation=rotation,
        stream_index=int(stream.index),
        decoder="",
    )


def orientation_of(width: int, height: int) -> Orientation:
    if height > width:
        return "vertical"
    if width > height:
        return "horizontal"
    return "square"


def stream_start_s(stream: Any) -> float:
    """Presentation time of the stream's first frame; frame times are reported from it."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _is_cover_art(stream: Any) -> bool:
    # An MP3's or M4A's album cover is a one-picture "video" stream flagged attached_pic.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _describe(container: Any) -> str:
    counts: dict[str, int] = {}
    for s in container.streams:
        kind = "cover picture" if s.type == "video" and _is_cover_art(s) else s.type
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return "no streams at all"
    return ", ".join(f"{n} {kind} stream{'s' if n > 1 else ''}" for kind, n in counts.items())


def _fps(stream: Any) -> float:
    # av_guess_frame_rate's choice first: raw streams' average_rate is FFmpeg's default 25.
    for rate in (stream.guessed_rate, stream.average_rate, stream.base_rate):
        if rate and float(rate) > 0 and math.isfinite(float(rate)):
            return float(rate)
    return 0.0


def _duration(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        # The container's duration spans every stream and starts at its own start time.
        return float(Fraction(container.duration, av.time_base))
    return 0.0


def _codec_name(stream: Any) -> str:
    codec = stream.codec_context.codec
    # canonical_name is the format ("av1"); name may be a decoder's ("libdav1d").
    return str(getattr(codec, "canonical_name", None) or codec.name)


def rotation_tag(stream: Any) -> int | None:
    """Clockwise rotation from an old muxer's 'rotate' tag; None when there is none."""
    tag = stream.metadata.get("rotate")
    if tag is not None:
        with contextlib.suppress(ValueError):
            return _quarter_turns(float(tag))
    return None


def frame_rotation(frame: Any) -> int:
    """Clockwise display rotation (0/90/180/270) a decoded frame carries."""
    # PyAV shows the container's display matrix only on decoded frames, counter-clockwise.
    return _quarter_turns(-float(frame.rotation))


def first_frame_rotation(container: Any, stream: Any) -> int:
    """Clockwise rotation the first frame from the demuxer's position carries; 0 if none decodes.

    Reads at most _FIRST_FRAME_PACKETS packets, so a stream that never decodes costs little.
    """
    return _peek(container, stream)[0]


def _peek(container: Any, stream: Any) -> tuple[int, int]:
    """(rotation of the first frame, pictures seen: 1 only when the stream holds just one)."""
    rotation: int | None = None
    packets = 0
    with contextlib.suppress(av.error.FFmpegError, ValueError, StopIteration):
        for packet in demux_packets(container, stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream flush
            packets += 1
            if rotation is None:
                for frame in packet.decode():
                    rotation = frame_rotation(frame)
                    break
            if (rotation is not None and packets > 1) or packets >= _FIRST_FRAME_PACKETS:
                return rotation or 0, packets
    return rotation or 0, packets


def _quarter_turns(degrees: float) -> int:
    # Display matrices may hold any angle; frames are only ever turned by quarter turns.
    return (round(degrees / 90) * 90) % 360
