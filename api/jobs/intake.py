"""Intake: from an HTTP body to a stored-ready Job (spool, limits, options, probe).

Everything that can refuse a request for its content happens here, before a
job exists, so bad input never reaches the queue. The options are validated
once, into the frozen AnalysisOptions the job carries to the worker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from analyzers.errors import InvalidOptionError, VideoTooLongError
from analyzers.probe import probe_video
from api.errors import RequestRejected
from api.jobs.files import UploadFiles
from api.jobs.multipart import Upload, spool_multipart
from api.jobs.record import Job
from api.settings import Settings

#: room for the multipart boundaries and text fields around the file itself
MULTIPART_OVERHEAD = 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class RequestOptions:
    """Options given as query parameters; form fields of the same name win."""

    frames: int | None = None
    aspects: str | None = None
    wait: bool | None = None


@dataclass(frozen=True)
class Submission:
    """A job ready to be stored and queued, and whether the client waits for it."""

    job: Job
    wait: bool


class Intake:
    """Turns one upload request into a Submission, or raises an error naming the problem."""

    def __init__(self, settings: Settings, files: UploadFiles) -> None:
        self.settings = settings
        self.files = files

    async def receive(
        self, headers: Mapping[str, str], body: AsyncIterator[bytes], query: RequestOptions
    ) -> Submission:
        upload = await self._spool(headers, body)
        try:
            return await asyncio.to_thread(self._submission, upload, query)
        except BaseException:
            self.files.remove(upload.path)
            raise

    async def _spool(self, headers: Mapping[str, str], body: AsyncIterator[bytes]) -> Upload:
        """Spool the body to disk; 413 from Content-Length alone when it already says too big."""
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise RequestRejected(
                "upload_too_large",
                f"the file is larger than the {self.settings.max_upload_mb:g} MB upload limit",
            )
        return await spool_multipart(headers.get("content-type", ""), body, self.files, limit)

    def _submission(self, upload: Upload, query: RequestOptions) -> Submission:
        """Validate options and probe the file (blocking: runs in a thread)."""
        if upload.path is None:
            raise RequestRejected(
                "missing_file", "no file: send the video in the form field 'file'"
            )
        options = self.settings.analysis_options(
            _frames(upload.fields.get("frames"), query.frames),
            upload.fields.get("aspects", query.aspects),
        )
        wait = _flag(upload.fields.get("wait"), query.wait, default=True)
        info = probe_video(upload.path)
        if info.duration_s > self.settings.max_duration_s:
            raise VideoTooLongError(
                f"the video is {info.duration_s:.1f} s long; the limit is "
                f"{self.settings.max_duration_s:g} s"
            )
        job = Job(
            id=uuid.uuid4().hex,
            options=options,
            upload=Path(upload.path),
            filename=upload.filename,
            size_bytes=upload.size,
            duration_s=info.duration_s,
        )
        return Submission(job, wait)


def _frames(raw: str | None, query: int | None) -> int | None:
    if raw is None:
        return query
    try:
        return int(raw.strip())
    except ValueError:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidOptionError(f"frames must be a whole number, got {shown!r}") from None


def _flag(raw: str | None, query: bool | None, *, default: bool) -> bool:
    if raw is None:
        return default if query is None else query
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    raise InvalidOptionError(f"wait must be true or false, got {shown!r}")
