"""Errors raised by the serving side (the analysis errors live in analyzers/errors.py).

    AnalyzerError (analyzers.errors)
    ├── InputError
    │   └── RequestRejected        the HTTP request itself is unusable; code set per instance
    └── JobError                   raised by the serving side for a job
        ├── QueueFullError         too many jobs waiting (HTTP 503 + Retry-After)
        ├── DrainingError          the service is shutting down (HTTP 503 + Retry-After)
        ├── ModelUnavailableError  no worker can load the model (HTTP 503)
        ├── StorageFullError       the disk cannot take the upload or the job (HTTP 507)
        ├── JobTimeoutError        a job ran past its time limit (HTTP 504)
        └── WorkerCrashedError     the worker died while analysing this video (HTTP 502)

They pickle cleanly (message, and code where it varies, in ``args``).
Also here: ``disk_full`` (is this exception a full disk?) and ``shorten`` (a client's text
echoed back in a message, cut to a readable length).
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

from analyzers.errors import AnalyzerError, InputError


class RequestRejected(InputError):
    """The request body, a form field or a header is unusable; ``code`` says which rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


class JobError(AnalyzerError):
    code = "job_failed"


class QueueFullError(JobError):
    code = "queue_full"


class DrainingError(JobError):
    code = "draining"


class ModelUnavailableError(JobError):
    code = "model_unavailable"


class StorageFullError(JobError):
    code = "insufficient_storage"


class JobTimeoutError(JobError):
    code = "timed_out"


class WorkerCrashedError(JobError):
    code = "worker_crashed"


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
