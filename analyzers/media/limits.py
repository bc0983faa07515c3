"""What a file may ask for before anything is decoded: streams, frame size.

A small file can declare a thousand streams or a 16000x16000 frame; both are
refused from the headers, before a decoder allocates anything. The limits are
the service's settings (MAX_STREAMS, MAX_FRAME_SIDE, MAX_FRAME_PIXELS); each
process that opens media (front, worker, CLI) sets them once with ``configure``.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzers.errors import FrameTooLargeError, TooManyStreamsError


@dataclass(frozen=True)
class MediaLimits:
    """Most streams a file may hold, and the largest frame (per side and in all)."""

    #: streams in one file (video, audio, subtitles, data); real videos hold 1 to a few
    max_streams: int = 32
    #: pixels on the longer side: 8192 admits 4K and 8K, portrait or landscape
    max_side: int = 8192
    #: pixels in one frame: 8192 x 4320, so 8K UHD (7680 x 4320) fits
    max_pixels: int = 8192 * 4320

    def open_options(self) -> dict[str, str]:
        """FFmpeg options for opening: the demuxer stops at one stream past the limit."""
        return {"max_streams": str(self.max_streams + 1)}

    def check_streams(self, count: int) -> None:
        """TooManyStreamsError when ``count`` is over the limit."""
        if count > self.max_streams:
            raise self.too_many_streams()

    def too_many_streams(self) -> TooManyStreamsError:
        return TooManyStreamsError(
            f"the file holds more than {self.max_streams} streams; real videos hold a few"
        )

    def check_frame(self, width: int, height: int) -> None:
        """FrameTooLargeError when a ``width`` x ``height`` frame is over a limit."""
        if max(width, height) > self.max_side or width * height > self.max_pixels:
            raise FrameTooLargeError(
                f"the video's frames are {width}x{height}; the limit is {self.max_side} "
                f"pixels per side and {self.max_pixels / 1e6:.1f} megapixels per frame"
            )


_current = MediaLimits()


def configure(limits: MediaLimits) -> None:
    """Set this process's limits (from the settings, at start)."""
    global _current
    _current = limits


def current() -> MediaLimits:
    """The limits every media open in this process checks."""
    return _current
