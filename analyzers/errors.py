"""Every error the service raises on purpose: one family, one base.

    AnalyzerError                    base: ``code``, HTTP ``status``, ``retry_after``; ``str(err)``
    │                                is a one-line message for a person
    ├── InputError                   the video or the request is at fault (HTTP 4xx)
    │   ├── EmptyFileError           zero bytes
    │   ├── NotAVideoError           no container/codec we can read
    │   ├── NoVideoStreamError       audio only, subtitles only ...
    │   ├── NoDecodableFramesError   opens, but not one frame decodes
    │   ├── VideoTooLongError        longer than the configured maximum duration
    │   ├── DecodeTimeoutError       the decoder took longer than the time allowed per file
    │   ├── InvalidOptionError       unknown aspect, frame count out of range ...
    │   └── RequestRejected          (api/errors.py) the HTTP request itself is unusable
    ├── ModelLoadError               the model cannot be loaded; says which setting to change
    ├── AnalysisError                the model failed while running
    ├── ResourceError                (api/errors.py) a route's target is missing or not ready
    ├── UnauthorizedError            (api/errors.py) no or a wrong API key
    └── JobError                     (api/errors.py) the serving side refused or ended a job

The serving side's families live in ``api/errors.py`` (analyzers/ never imports
api/); ``api/http/errors.py`` alone turns any of them into an HTTP reply.

Each class keeps its message in ``args`` (and what varies per instance in
``__reduce__``), so instances pickle cleanly across worker processes.
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base of every deliberate error; the message is meant for a person."""

    #: short machine-readable code used in JSON error bodies
    code: str = "analyzer_error"
    #: the HTTP status the service answers with
    status: int = 500
    #: seconds a client should wait before trying again (a Retry-After header), if any
    retry_after: int | None = None
    #: the job the error is about, named in the JSON body
    job_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(AnalyzerError):
    """The uploaded video or the request options are at fault."""

    code = "invalid_input"
    status = 422


class EmptyFileError(InputError):
    code = "empty_file"
    status = 400


class NotAVideoError(InputError):
    code = "not_a_video"
    status = 415


class NoVideoStreamError(InputError):
    code = "no_video_stream"


class NoDecodableFramesError(InputError):
    code = "no_decodable_frames"


class VideoTooLongError(InputError):
    code = "video_too_long"


class DecodeTimeoutError(InputError):
    code = "decode_timeout"


class TooManyStreamsError(InputError):
    """The file declares more streams than MAX_STREAMS (a cheap file that costs much to open)."""

    code = "too_many_streams"


class FrameTooLargeError(InputError):
    """The video's frames are larger than MAX_FRAME_SIDE or MAX_FRAME_PIXELS."""

    code = "frame_too_large"


class MediaTooDemandingError(InputError):
    """Reading the file's headers took more memory or time than the probe is allowed."""

    code = "media_too_demanding"


class InvalidOptionError(InputError):
    code = "invalid_option"


class ModelLoadError(AnalyzerError):
    code = "model_load_failed"
    status = 503


class AnalysisError(AnalyzerError):
    code = "analysis_failed"
