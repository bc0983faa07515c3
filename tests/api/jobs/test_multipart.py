"""Multipart spooling: the file to disk under our own name, fields capped, nothing left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.errors import RequestRejected
from api.jobs.files import UploadFiles
from api.jobs.multipart import MAX_FIELD_BYTES, Upload, spool_multipart

BOUNDARY = "XyZ"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(
    data: bytes, size: int = 1000, fail_at: int | None = None
) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if fail_at is not None and start >= fail_at:
            raise ConnectionResetError("client went away")
        yield data[start : start + size]


def _spool(tmp: Path, data: bytes, max_bytes: int = 10_000, **kw: int) -> Upload:
    files = UploadFiles(tmp / "uploads")
    return asyncio.run(spool_multipart(CONTENT_TYPE, _chunks(data, **kw), files, max_bytes))


def test_the_file_lands_under_a_name_of_our_own(tmp_path: Path) -> None:
    video = bytes(range(256)) * 20
    upload = _spool(tmp_path, _body(_part("frames", b"4"), _part("file", video, "../../x.mp4")))
    assert upload.path is not None and upload.path.parent == (tmp_path / "uploads").resolve()
    assert upload.path.name != "x.mp4" and upload.path.read_bytes() == video
    assert upload.filename == "../../x.mp4" and upload.fields == {"frames": "4"}


def test_an_oversized_file_is_refused_and_removed(tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as err:
        _spool(tmp_path, _body(_part("file", b"x" * 20_000, "a.mp4")), max_bytes=5_000)
    assert err.value.code == "upload_too_large"
    assert list((tmp_path / "uploads").iterdir()) == []


def test_one_long_field_and_many_small_ones_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RequestRejected, match="too long"):
        _spool(tmp_path, _body(_part("aspects", b"a" * (MAX_FIELD_BYTES + 1))))
    many = [_part(f"f{i}", b"b" * 60_000) for i in range(6)]
    with pytest.raises(RequestRejected, match="in total"):
        _spool(tmp_path, _body(*many))


def test_a_client_that_goes_away_leaves_no_partial_file(tmp_path: Path) -> None:
    data = _body(_part("file", b"v" * 9_000, "a.mp4"))
    with pytest.raises(ConnectionResetError):
        _spool(tmp_path, data, fail_at=4_000)
    assert list((tmp_path / "uploads").iterdir()) == []


def test_two_files_and_a_non_multipart_body_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as err:
        _spool(tmp_path, _body(_part("file", b"1", "a"), _part("file", b"2", "b")))
    assert err.value.code == "too_many_files"
    files = UploadFiles(tmp_path / "u")
    with pytest.raises(RequestRejected) as err:
        asyncio.run(spool_multipart("application/json", _chunks(b"{}"), files, 10))
    assert err.value.code == "not_multipart"
