"""Streams a multipart upload straight to disk, enforcing the size cap as it goes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import RequestRejected, StorageFullError, disk_full
from api.jobs.files import UploadFiles

#: the form field that carries the video
FILE_FIELD = "file"
#: a text field (frames, aspects, wait) is never longer than this
MAX_FIELD_BYTES = 64 * 1024
#: all text fields of one request together (many small fields are refused too)
MAX_FIELDS_TOTAL_BYTES = 256 * 1024
#: bytes of an oversized body still read (and dropped) so the client sees the 413 reply
DISCARD_LIMIT = 64 * 1024 * 1024


@dataclass
class Upload:
    """What the body held: the spooled file (if any) and the text fields."""

    path: Path | None = None
    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


class _Spooler:
    """python-multipart callbacks writing the 'file' part to disk and keeping text fields."""

    def __init__(self, files: UploadFiles, max_bytes: int) -> None:
        self.files, self.max_bytes = files, max_bytes
        self.upload = Upload()
        self.too_large = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part_name: str | None = None
        self._part_is_file = False
        self._field = bytearray()
        self._fields_total = 0
        self._out: BinaryIO | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._field = {}, bytearray()
        self._part_name, self._part_is_file = None, False

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._part_name = name
        if name != FILE_FIELD:
            return
        if self.upload.path is not None:
            raise RequestRejected("too_many_files", "send exactly one file per request")
        self._part_is_file = True
        raw_name = params.get(b"filename")
        # Kept for the record only; the path on disk is always our own uuid.
        self.upload.filename = raw_name.decode("utf-8", "replace")[:255] if raw_name else None
        self.upload.path = self.files.new_path()
        self._out = open(self.upload.path, "wb")  # noqa: SIM115 - closed in _part_end/close

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_is_file:
            if self.too_large or self._out is None:
                return
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                self.too_large = True
                self.close(delete=True)
                return
            # Small writes to the page cache; cheaper than a thread hop per chunk.
            self._out.write(data[start:end])
        elif self._part_name is not None:
            self._field += data[start:end]
            if len(self._field) > MAX_FIELD_BYTES:
                raise RequestRejected(
                    "field_too_large", f"form field {self._part_name[:40]!r} is too long"
                )
            self._fields_total += end - start
            if self._fields_total > MAX_FIELDS_TOTAL_BYTES:
                raise RequestRejected(
                    "field_too_large",
                    f"the form's text fields exceed {MAX_FIELDS_TOTAL_BYTES // 1024} KB in total",
                )

    def _part_end(self) -> None:
        if self._part_is_file:
            if self._out is not None:
                self._out.close()
                self._out = None
        elif self._part_name:
            self.upload.fields[self._part_name] = self._field.decode("utf-8", "replace")

    def close(self, *, delete: bool) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if delete and self.upload.path is not None:
            self.upload.path.unlink(missing_ok=True)


async def _feed(
    parser: MultipartParser, spooler: _Spooler, body: AsyncIterator[bytes], max_bytes: int
) -> None:
    received = 0
    async for chunk in body:
        received += len(chunk)
        if spooler.too_large:
            if received > max_bytes + DISCARD_LIMIT:
                break  # give up reading; the reply still goes out
            continue
        parser.write(chunk)
    if not spooler.too_large:
        parser.finalize()


def as_rejection(exc: BaseException) -> BaseException:
    """The error to raise for what went wrong while spooling or downloading (others unchanged)."""
    if isinstance(exc, FormParserError):
        return RequestRejected("bad_multipart", f"malformed multipart body: {exc}")
    if disk_full(exc):
        return StorageFullError("disk full: the upload cannot be stored; retry later")
    return exc


async def spool_multipart(
    content_type: str,
    body: AsyncIterator[bytes],
    files: UploadFiles,
    max_bytes: int,
) -> Upload:
    """Parse the body as it arrives; the file part goes to a fresh path from ``files``."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RequestRejected(
            "not_multipart",
            "send the video as multipart/form-data with the field 'file' "
            "(curl -F file=@clip.mp4 ...)",
        )
    spooler = _Spooler(files, max_bytes)
    try:
        parser = MultipartParser(boundary, spooler.callbacks())  # type: ignore[arg-type]
    except (FormParserError, ValueError) as exc:
        raise RequestRejected("bad_multipart", f"malformed multipart body: {exc}") from None
    try:
        await _feed(parser, spooler, body, max_bytes)
    except BaseException as exc:
        spooler.close(delete=True)  # refused, or the client went away: no partial file stays
        raise as_rejection(exc) from None
    spooler.close(delete=spooler.too_large)
    if spooler.too_large:
        limit_mb = max_bytes / (1024 * 1024)
        raise RequestRejected(
            "upload_too_large", f"the file is larger than the {limit_mb:g} MB upload limit"
        )
    return spooler.upload
