"""The serving side's errors, under the one base in analyzers/errors.py.

    AnalyzerError (analyzers.errors)        code, status, retry_after
    ├── InputError
    │   ├── RequestRejected                 the HTTP request is unusable; code per instance
    │   └── InvalidQueryError               a search query FTS5 cannot parse, or empty (422)
    ├── ResourceError                       the route's target is missing or not in that state
    │   ├── JobNotFoundError                no such job (404)
    │   ├── FrameNotFoundError              no such keyframe (404)
    │   ├── NotCancellableError             the job runs or has ended (409)
    │   └── NotDoneError                    no result to export yet (409)
    ├── UnauthorizedError                   wrong API key (401)
    ├── ForbiddenOriginError                a browser write from another origin (403)
    ├── InvalidHostError                    a Host header that is not allowed (400)
    ├── TooManyAttemptsError                too many wrong keys from one address (429)
    └── JobError                            the serving side refused or ended a job
        ├── QueueFullError                  too many jobs waiting (503 + Retry-After)
        ├── DrainingError                   the service is shutting down (503 + Retry-After)
        ├── ModelUnavailableError           no worker can load the model (503)
        ├── StorageFullError                the disk cannot take the upload or the job (507)
        ├── JobTimeoutError                 a job ran past its time limit (504)
        ├── WorkerCrashedError              the worker died while analysing this video (502)
        ├── JobCancelledError               cancelled by the client (409)
        └── UploadMissingError              the upload vanished before its job ran (500)

They pickle cleanly (message, and what varies per instance, in ``__reduce__``).
Also here: ``disk_full`` (is this exception a full disk?) and ``shorten`` (a client's text
echoed back in a message, cut to a readable length).
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

from analyzers.errors import AnalyzerError, InputError

#: HTTP status of each code a RequestRejected may carry
REQUEST_STATUS = {
    "missing_file": 400,
    "empty_file": 400,
    "bad_multipart": 400,
    "too_many_files": 400,
    "file_and_url": 400,
    "url_not_allowed": 400,
    "upload_too_large": 413,
    "field_too_large": 413,
    "not_multipart": 415,
    "not_a_video_link": 415,
    "url_fetch_failed": 422,
    "url_timeout": 422,
    # a page link whose post is private, removed, region-locked, login-only, or whose
    # extractor broke (api/links/failures.py)
    "link_unavailable": 422,
}


class RequestRejected(InputError):
    """The request body, a form field or a header is unusable; ``code`` says which rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = REQUEST_STATUS.get(code, InputError.status)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


class ResourceError(AnalyzerError):
    """The route's target does not exist, or is not in a state that allows the request."""

    code = "not_found"
    status = 404


class JobNotFoundError(ResourceError):
    code = "job_not_found"


class FrameNotFoundError(ResourceError):
    code = "frame_not_found"


class NotCancellableError(ResourceError):
    code = "not_cancellable"
    status = 409

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.job_id))


class NotDoneError(ResourceError):
    code = "not_done"
    status = 409


class UnauthorizedError(AnalyzerError):
    code = "unauthorized"
    status = 401


class ForbiddenOriginError(AnalyzerError):
    code = "forbidden_origin"
    status = 403


class InvalidHostError(AnalyzerError):
    code = "invalid_host"
    status = 400


class TooManyAttemptsError(AnalyzerError):
    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong API keys from this address; retry in {retry_after} s")
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.retry_after,))


class JobError(AnalyzerError):
    code = "job_failed"


class QueueFullError(JobError):
    code = "queue_full"
    status = 503

    def __init__(self, queue_size: int, retry_after: int) -> None:
        super().__init__(
            f"the queue is full ({queue_size} videos waiting); retry in {retry_after} s"
        )
        self.queue_size, self.retry_after = queue_size, retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.queue_size, self.retry_after))


class DrainingError(JobError):
    code = "draining"
    status = 503
    retry_after = 10


class ModelUnavailableError(JobError):
    code = "model_unavailable"
    status = 503


class StorageFullError(JobError):
    code = "insufficient_storage"
    status = 507


class JobTimeoutError(JobError):
    code = "timed_out"
    status = 504


class WorkerCrashedError(JobError):
    code = "worker_crashed"
    status = 502


class JobCancelledError(JobError):
    code = "cancelled"
    status = 409


class UploadMissingError(JobError):
    code = "upload_missing"


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL; the low byte of an extended result code


def disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        return "database or disk is full" in str(exc)
    return False


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with '...'), for echoing a client's input back."""
    return text if len(text) <= limit else text[:limit] + "..."


class InvalidQueryError(InputError):
    """A search query FTS5 cannot parse, an empty one, or a cursor that is not a search's."""

    code = "invalid_query"
