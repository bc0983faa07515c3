"""Every error the service raises on purpose, in one place.

    AnalyzerError                    base; ``str(err)`` is a one-line message for a person
    ├── InputError                   the video or the request is at fault (HTTP 4xx)
    │   ├── EmptyFileError           zero bytes
    │   ├── NotAVideoError           no container/codec we can read
    │   ├── NoVideoStreamError       audio only, subtitles only ...
    │   ├── NoDecodableFramesError   opens, but not one frame decodes
    │   ├── VideoTooLongError        longer than the configured maximum duration
    │   ├── DecodeTimeoutError       the decoder took longer than the time allowed per file
    │   └── InvalidOptionError       unknown aspect, frame count out of range ...
    ├── ModelLoadError               the model cannot be loaded; says which setting to change
    └── AnalysisError                the model failed while running

The serving side's errors (queue full, timeouts, crashed workers) subclass
AnalyzerError in ``api/errors.py``.

Each class keeps its message in ``args`` only, so instances pickle cleanly
across worker processes. They become HTTP errors only in ``api/``.
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base of every deliberate error; the message is meant for a person."""

    #: short machine-readable code used in JSON error bodies
    code = "analyzer_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(AnalyzerError):
    """The uploaded video or the request options are at fault."""

    code = "invalid_input"


class EmptyFileError(InputError):
    code = "empty_file"


class NotAVideoError(InputError):
    code = "not_a_video"


class NoVideoStreamError(InputError):
    code = "no_video_stream"


class NoDecodableFramesError(InputError):
    code = "no_decodable_frames"


class VideoTooLongError(InputError):
    code = "video_too_long"


class DecodeTimeoutError(InputError):
    code = "decode_timeout"


class InvalidOptionError(InputError):
    code = "invalid_option"


class ModelLoadError(AnalyzerError):
    code = "model_load_failed"


class AnalysisError(AnalyzerError):
    code = "analysis_failed"
