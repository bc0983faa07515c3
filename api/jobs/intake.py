"""Intake: from an HTTP body to a stored-ready Job (spool, limits, options, probe).

Everything that can refuse a request for its content happens here, before a
job exists, so bad input never reaches the queue. The options are validated
once, into the frozen AnalysisOptions the job carries to the worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import anyio.to_thread

from analyzers.errors import InvalidOptionError, VideoTooLongError
from analyzers.media.bounded_probe import bounded_probe
from analyzers.options import AnalysisOptions
from api.errors import RequestRejected, shorten
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import UrlDownload, parse_url, resolve
from api.jobs.files import UploadFiles
from api.jobs.multipart import MAX_FIELDS_TOTAL_BYTES, Upload, spool_multipart
from api.jobs.record import Callback, Job
from api.links.link_fetch import LinkFetcher
from api.masking import masked_url
from api.settings import Settings

#: room for the multipart boundaries and text fields around the file itself
MULTIPART_OVERHEAD = 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: longest video link or callback URL accepted
MAX_URL_CHARS = 2048
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class RequestOptions:
    """Options given as query parameters; form fields of the same name win."""

    frames: int | None = None
    aspects: str | None = None
    wait: bool | None = None
    url: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class Submission:
    """A job ready to be stored and queued, and whether the client waits for it."""

    job: Job
    wait: bool


class Intake:
    """Turns one upload request into a Submission, or raises an error naming the problem."""

    def __init__(self, settings: Settings, files: UploadFiles, guard: AddressGuard) -> None:
        self.settings = settings
        self.files = files
        self.guard = guard
        self.download = UrlDownload(
            files, self.guard, int(settings.max_upload_mb * 1024 * 1024), settings.url_timeout_s
        )
        self.links = LinkFetcher(self.download, self.guard, settings.link_site_names())

    async def receive(
        self, headers: Mapping[str, str], body: AsyncIterator[bytes], query: RequestOptions
    ) -> Submission:
        upload = await self._read_body(headers, body, query)
        try:
            callback = await self._callback(
                _given(upload.fields.get("callback_url"), query.callback_url)
            )
            url = _given(upload.fields.get("url"), query.url)
            choices, source = None, None
            if url is not None:
                if upload.path is not None:
                    raise RequestRejected("file_and_url", "send either a file or a url, not both")
                # Validated once, here: bad options are refused before downloading.
                choices = self._choices(upload.fields, query)
                fetched, source = await self.links.fetch(_capped(url, "url"))
                upload = dataclasses.replace(fetched, fields=upload.fields)
            # anyio's pool: the one bounded set of helper threads the HTTP side already uses.
            submission = await anyio.to_thread.run_sync(
                self._submission, upload, query, url, callback, choices
            )
            submission.job.source = source
            return submission
        except BaseException:
            self.files.remove(upload.path)
            raise

    async def _read_body(
        self, headers: Mapping[str, str], body: AsyncIterator[bytes], query: RequestOptions
    ) -> Upload:
        """The multipart upload, a urlencoded form, or nothing when the query names a url."""
        content_type = headers.get("content-type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind == _FORM:
            return Upload(fields=await _read_form(body))
        if kind != "multipart/form-data" and _given(None, query.url) is not None:
            return Upload()
        return await self._spool(headers, body)

    async def _callback(self, raw: str | None) -> Callback | None:
        """The callback to record, its address checked now (and again at each delivery)."""
        if raw is None:
            return None
        url = parse_url(_capped(raw, "callback_url"), "callback_url")
        try:
            await asyncio.wait_for(resolve(url, self.guard), self.settings.callback_timeout_s)
        except asyncio.TimeoutError:
            raise InvalidOptionError(
                "callback_url: its host name did not resolve in time"
            ) from None
        except RequestRejected as exc:
            if exc.code == "url_fetch_failed":
                raise InvalidOptionError(
                    "callback_url: its host name does not resolve to an address"
                ) from None
            raise
        return Callback(url=str(url))

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

    def _choices(
        self, fields: Mapping[str, str], query: RequestOptions
    ) -> tuple[AnalysisOptions, bool]:
        """The validated analysis options and the wait flag (form fields win)."""
        options = self.settings.analysis_options(
            _frames(fields.get("frames"), query.frames),
            fields.get("aspects", query.aspects),
        )
        return options, _flag(fields.get("wait"), query.wait, default=True)

    def _submission(
        self,
        upload: Upload,
        query: RequestOptions,
        source_url: str | None,
        callback: Callback | None,
        choices: tuple[AnalysisOptions, bool] | None,
    ) -> Submission:
        """Validate options (unless ``choices`` already holds them) and probe the file
        (blocking: runs in a thread)."""
        if upload.path is None:
            raise RequestRejected(
                "missing_file",
                "no file: send the video in the form field 'file', or a link to it in 'url'",
            )
        options, wait = choices if choices is not None else self._choices(upload.fields, query)
        # A child process with a memory cap reads the headers: a hostile file cannot grow us.
        info = bounded_probe(
            Path(upload.path), self.settings.media_limits(), self.settings.probe_budget()
        )
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
            probe=info,
            # The link was needed to fetch; what is kept is only ever shown: no secrets in it.
            source_url=masked_url(source_url) if source_url else None,
            callback=callback,
        )
        return Submission(job, wait)


def _given(field: str | None, query: str | None) -> str | None:
    """The form field when given, else the query parameter; blank counts as absent."""
    value = field if field is not None else query
    return value if value is not None and value.strip() else None


def _capped(raw: str, name: str) -> str:
    if len(raw) > MAX_URL_CHARS:
        raise InvalidOptionError(f"{name} is longer than {MAX_URL_CHARS} characters")
    return raw


async def _read_form(body: AsyncIterator[bytes]) -> dict[str, str]:
    """A small urlencoded form (url=...&frames=...), capped like multipart text fields."""
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > MAX_FIELDS_TOTAL_BYTES:
            raise RequestRejected(
                "field_too_large",
                f"the form's text fields exceed {MAX_FIELDS_TOTAL_BYTES // 1024} KB in total",
            )
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise RequestRejected("bad_multipart", "malformed form body") from None
    return dict(pairs)


def _frames(raw: str | None, query: int | None) -> int | None:
    if raw is None:
        return query
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidOptionError(
            f"frames must be a whole number, got {shorten(raw, 40)!r}"
        ) from None


def _flag(raw: str | None, query: bool | None, *, default: bool) -> bool:
    if raw is None:
        return default if query is None else query
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidOptionError(f"wait must be true or false, got {shorten(raw, 40)!r}")
