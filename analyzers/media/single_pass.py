"""One open container, one demux and decode pass: every frame seen, a few kept, the audio decoded.

Shot-aware sampling cannot know its times before the whole video has been seen, so
the pass decodes every frame once: each goes, scaled down by swscale, to the cut
detector, and the frames on screen at the requested moments (a grid dense enough to
serve any shot-aware time, plus the first frame of every shot) are kept as decoded;
nothing else is kept, so memory stays bounded (the caller sizes the grid). The
packets of the chosen audio stream are decoded in the same demux loop, resampled to
16 kHz mono. After the pass, :func:`sample_kept` picks the sampled frames from the
kept ones and converts only those.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from analyzers.errors import NoDecodableFramesError, VideoTooLongError
from analyzers.media import limits
from analyzers.media.decode_warnings import completeness_warnings, damage_warnings
from analyzers.media.frame_table import DecodeCancelled, FrameTable
from analyzers.media.probe import (
    choose_video_stream,
    describe_stream,
    frame_rotation,
    open_media,
    raise_still_image,
    rotation_tag,
    stream_start_s,
)
from analyzers.media.pyav_demux import demux_packets
from analyzers.media.pyav_frames import DecodeIssue, open_decoder, to_rgb
from analyzers.media.sampling import SampledFrames, pick_frames, run_with_timeout
from analyzers.schema import VideoInfo

log = logging.getLogger(__name__)

#: the audio's rate after resampling (what Whisper hears)
AUDIO_RATE = 16000
#: undecodable packets tolerated before the pass gives up on the rest of a damaged file
MAX_DECODE_ERRORS = 200


class CutFinder(Protocol):
    """What the pass feeds every frame to (analyzers.stages.shots.CutDetector)."""

    cuts: list[int]
    seconds: float

    @property
    def motion(self) -> float | None: ...

    def size_for(self, width: int, height: int) -> tuple[int, int]: ...

    def feed(self, rgb: np.ndarray) -> bool: ...


@dataclass(frozen=True)
class PassRequest:
    """What one pass is asked for; an empty request only counts and times the frames."""

    #: builds the cut detector from the stream's frame rate; None: no shot detection
    cuts: Callable[[float], CutFinder] | None = None
    #: moments (seconds) whose on-screen frame is kept; with cuts, every shot's first one too
    points: Sequence[float] = ()
    #: (width, height) as displayed of the kept frames; None: the stored size
    size: tuple[int, int] | None = None
    #: decode the audio up to this many seconds; None: leave the audio alone
    audio_s: float | None = None
    #: decoder threads; None lets FFmpeg choose (frame threads: this pass decodes everything)
    threads: int | None = None
    max_duration_s: float | None = None


@dataclass
class PassResult:
    """What the pass saw: every frame's time, the cuts, the kept frames and the audio."""

    video: VideoInfo
    times: list[float]
    cuts: list[int]
    kept_times: list[float]
    #: decoded frames (PyAV's), converted by sample_kept to RGB at the size asked for
    kept: list[Any]
    issues: list[DecodeIssue]
    complete: bool
    #: 16 kHz mono float32; None when not asked for, or the file has no audio stream
    audio: np.ndarray | None
    shots_s: float = 0.0
    audio_decode_s: float = 0.0
    #: the cut detector's mean change score (0-255); None without shot detection
    motion: float | None = None
    timed: bool = True
    #: (width, height) as displayed the sampled frames are converted to; None: stored size
    size: tuple[int, int] | None = None


class AudioCollector:
    """Audio frames resampled to 16 kHz mono float32, up to a length; stops at a bad packet."""

    def __init__(self, max_s: float | None) -> None:
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        self.limit = None if max_s is None else int(max_s * AUDIO_RATE)
        self.chunks: list[np.ndarray] = []
        self.total = 0
        self.stopped = False
        self.seconds = 0.0

    def add(self, packet: Any) -> None:
        """Decode one packet of the audio stream (ignored once full or after an error)."""
        if self.stopped:
            return
        began = time.perf_counter()
        try:
            for frame in packet.decode():
                self._keep(self.resampler.resample(frame))
        except (av.error.FFmpegError, ValueError) as exc:
            # A damaged audio stream loses the speech after the damage, not the analysis.
            log.info("audio decoding stopped early: %s", exc)
            self.stopped = True
        if self.limit is not None and self.total >= self.limit:
            self.stopped = True
        self.seconds += time.perf_counter() - began

    def _keep(self, frames: list[Any]) -> None:
        for converted in frames:
            self.chunks.append(converted.to_ndarray().reshape(-1))
            self.total += len(self.chunks[-1])

    def samples(self) -> np.ndarray:
        """Everything decoded (the resampler flushed), cut to the length asked for."""
        if not self.stopped:
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                self._keep(self.resampler.resample(None))
        joined = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        samples = joined.astype(np.float32, copy=False)
        return samples if self.limit is None else samples[: self.limit]


def read_once(
    path: str | Path, request: PassRequest, check: Callable[[], None] | None = None
) -> PassResult:
    """Open ``path`` once and decode it once for ``request``; ``check`` runs at every packet
    (it raises to stop the pass: a cancelled job, a deadline)."""
    with open_media(path) as container:
        stream = choose_video_stream(container)
        audio = container.streams.best("audio") if request.audio_s is not None else None
        return _Pass(container, stream, audio, request, check).run()


def read_within(path: str | Path, request: PassRequest, timeout_s: float) -> PassResult:
    """read_once in a decoding thread given up on after ``timeout_s`` (DecodeTimeoutError),
    so that a decoder stuck in C code cannot hold the job (see stuck_decoder_threads)."""
    cancel = threading.Event()

    def check() -> None:
        if cancel.is_set():
            raise DecodeCancelled

    return run_with_timeout(lambda: read_once(path, request, check), timeout_s, cancel)


class _Pass:
    """The state of one pass over an open container."""

    def __init__(
        self,
        container: Any,
        stream: Any,
        audio: Any,
        request: PassRequest,
        check: Callable[[], None] | None,
    ) -> None:
        self.container, self.stream, self.request, self.check = container, stream, request, check
        self.tag = rotation_tag(stream)
        self.fps = describe_stream(container, stream, 0).fps
        self.base = stream_start_s(stream)
        self.scale = float(stream.time_base or 0)
        self.audio = audio
        self.collector = None if audio is None else AudioCollector(request.audio_s)
        self.detector = None if request.cuts is None else request.cuts(self.fps)
        self.small: tuple[int, int] | None = None
        # One reformatter for the whole pass: frame.to_ndarray(width=...) builds a new
        # swscale context per call, which costs more than decoding a small frame.
        self.reformatter = VideoReformatter()
        self.points = sorted(request.points)
        self.next_point = 0
        self.rotation: int | None = self.tag
        self.previous: tuple[Any, float] | None = None
        self.times: list[float] = []
        self.kept_times: list[float] = []
        self.kept: list[Any] = []
        self.issues: list[DecodeIssue] = []
        self.complete = True
        self.timed = True
        if request.threads is None:
            stream.thread_type = "AUTO"
        else:
            open_decoder(stream, threads=request.threads)

    def run(self) -> PassResult:
        streams = [self.stream] if self.audio is None else [self.stream, self.audio]
        last = 0.0
        try:
            for packet in demux_packets(self.container, streams):
                if self.check is not None:
                    self.check()
                if self.collector is not None and packet.stream.index == self.audio.index:
                    self.collector.add(packet)
                    continue
                if packet.pts is not None and packet.time_base:
                    last = max(0.0, float(packet.pts * packet.time_base) - self.base)
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as err:
                    self.issues.append(DecodeIssue(last, _reason(err)))
                    if len(self.issues) > MAX_DECODE_ERRORS:
                        break
                    continue
                for frame in frames:
                    self._see(frame)
        except av.error.FFmpegError as err:  # the demuxer itself failed: no more data
            self.issues.append(DecodeIssue(last, _reason(err)))
            self.complete = False
        return self._result()

    def _see(self, frame: Any) -> None:
        # The headers were checked; a stream may still change its frame size midway.
        limits.current().check_frame(frame.width, frame.height)
        moment = self._time_of(frame)
        if self.rotation is None:
            self.rotation = frame_rotation(frame)
        limit = self.request.max_duration_s
        if limit is not None and moment > limit:
            raise VideoTooLongError(f"the video is longer than {limit:g} s, the limit")
        cut = False
        if self.detector is not None:
            if self.small is None:
                self.small = self.detector.size_for(frame.width, frame.height)
            began = time.perf_counter()
            small = self.reformatter.reformat(
                frame,
                width=self.small[0],
                height=self.small[1],
                format="rgb24",
                interpolation="FAST_BILINEAR",
            ).to_ndarray()
            self.detector.seconds += time.perf_counter() - began
            cut = self.detector.feed(small)
        while self.next_point < len(self.points) and self.points[self.next_point] < moment:
            # The frame before this one was on screen at the point (or, before the first
            # frame, this one is the nearest).
            self._keep(*(self.previous or (frame, moment)))
            self.next_point += 1
        if cut and self.points:
            self._keep(frame, moment)
        self.previous = (frame, moment)
        self.times.append(moment)

    def _time_of(self, frame: Any) -> float:
        if frame.pts is not None and self.scale:
            # pts in the stream's time base: drained frames carry no time_base of their own.
            return max(0.0, float(frame.pts) * self.scale - self.base)
        self.timed = False  # no timestamps: the n-th frame at n / fps
        return len(self.times) / (self.fps or 30.0)

    def _keep(self, frame: Any, moment: float) -> None:
        # The decoded frame itself is kept (a reference, no copy): converting every kept
        # one would cost more than decoding it; only the sampled ones are converted.
        if self.kept_times and moment <= self.kept_times[-1]:
            return
        self.kept.append(frame)
        self.kept_times.append(moment)

    def _result(self) -> PassResult:
        if self.previous is not None and self.next_point < len(self.points):
            self._keep(*self.previous)  # the last frame stays on screen to the end
        self.previous = None
        if self.request.points and len(self.times) == 1:
            raise_still_image(self.stream)
        info = describe_stream(self.container, self.stream, self.rotation or 0)
        return PassResult(
            video=info.model_copy(update={"decoder": "pyav"}),
            times=self.times,
            cuts=[] if self.detector is None else self.detector.cuts,
            kept_times=self.kept_times,
            kept=self.kept,
            issues=self.issues,
            complete=self.complete,
            audio=None if self.collector is None else self.collector.samples(),
            shots_s=0.0 if self.detector is None else self.detector.seconds,
            audio_decode_s=0.0 if self.collector is None else self.collector.seconds,
            motion=None if self.detector is None else self.detector.motion,
            timed=self.timed,
            size=self.request.size,
        )


def frame_table(found: PassResult) -> FrameTable:
    """The pass's decoded frames as a frame table (no keyframes: nothing seeks after it)."""
    return FrameTable(times=found.times, keyframes=[], complete=found.complete, timed=found.timed)


def sample_kept(found: PassResult, targets: Sequence[float], uniform: bool) -> SampledFrames:
    """The kept frame on screen at each target, with the sampler's warnings and VideoInfo."""
    if not found.times:
        raise NoDecodableFramesError(
            f"not one frame of the {found.video.codec} video could be decoded; the file is damaged"
        )
    table = frame_table(found)
    last = max(0.0, table.span_s - 1e-6)
    wanted = sorted(min(max(0.0, t), last) for t in targets)
    picks = pick_frames(found.kept_times, wanted)
    rotation, size, reformatter = found.video.rotation, found.size, VideoReformatter()
    images = [to_rgb(found.kept[i], size, rotation, reformatter) for i in picks]
    times = [found.kept_times[i] for i in picks]
    warnings = completeness_warnings(found.video, table)
    served = len(pick_frames(found.times, wanted))  # what a frame-exact sampler would give
    if uniform and served < len(wanted):
        warnings.append(
            f"the video has only {len(found.times)} frames: sampled {served} of {len(wanted)}"
        )
    warnings += damage_warnings(found.issues, len(images), served)
    if not images:
        raise NoDecodableFramesError(
            f"not one frame of the {found.video.codec} video could be decoded; the file is damaged"
        )
    video = found.video.model_copy(
        update={
            "duration_s": max(found.video.duration_s, table.span_s, times[-1]),
            "frame_count": found.video.frame_count or len(found.times),
        }
    )
    return SampledFrames(images=images, timestamps=times, video=video, warnings=warnings)


def grid(duration_s: float, count: int) -> list[float]:
    """``count`` moments evenly spread over [0, duration_s), the first at 0."""
    return [i * duration_s / count for i in range(max(1, count))]


def _reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or type(err).__name__)
