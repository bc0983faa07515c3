"""The error family (codes, statuses, pickling), and disk_full and shorten."""

from __future__ import annotations

import errno
import pickle
import sqlite3
from pathlib import Path

from analyzers.errors import AnalyzerError, VideoTooLongError
from api.errors import (
    DrainingError,
    NotCancellableError,
    QueueFullError,
    RequestRejected,
    StorageFullError,
    disk_full,
    shorten,
)
from api.http.errors import family, status_for


def test_disk_full_knows_a_full_disk_and_a_full_quota() -> None:
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))


def test_disk_full_is_false_for_other_os_errors() -> None:
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk_full(FileNotFoundError(errno.ENOENT, "gone"))
    assert not disk_full(ValueError("No space left on device"))


def test_disk_full_reads_sqlite_full_from_a_real_database(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "small.db")
    try:
        db.execute("PRAGMA page_size = 512")
        db.execute("CREATE TABLE t (x BLOB)")
        db.commit()
        db.execute("PRAGMA max_page_count = 4")
        try:
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
        except sqlite3.Error as exc:
            caught: sqlite3.Error = exc
        else:
            raise AssertionError("the insert should not fit in 4 pages")
    finally:
        db.close()
    assert disk_full(caught)


def test_disk_full_reads_the_sqlite_message_without_a_code() -> None:
    assert disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not disk_full(sqlite3.OperationalError("database is locked"))


def test_shorten_keeps_short_text_and_cuts_long_text() -> None:
    assert shorten("abc") == "abc"
    assert shorten("x" * 80) == "x" * 80
    assert shorten("x" * 81) == "x" * 80 + "..."
    assert shorten("abcdef", 3) == "abc..."


def test_every_error_is_one_family_with_a_code_and_an_http_status() -> None:
    for cls in family():
        assert cls.code and 400 <= cls.status <= 599, cls
    assert issubclass(QueueFullError, AnalyzerError) and issubclass(RequestRejected, AnalyzerError)
    assert {QueueFullError.status, StorageFullError.status, NotCancellableError.status} == {
        503,
        507,
        409,
    }


def test_errors_pickle_cleanly_with_what_varies_per_instance() -> None:
    errors: list[AnalyzerError] = [
        QueueFullError(64, 12),
        RequestRejected("upload_too_large", "too big"),
        NotCancellableError("the job is running", "abc123"),
        DrainingError("shutting down"),
        VideoTooLongError("too long"),
        StorageFullError("disk full"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.code, copy.status, copy.retry_after, copy.job_id, copy.message) == (
            error.code,
            error.status,
            error.retry_after,
            error.job_id,
            error.message,
        )
    assert errors[0].message == "the queue is full (64 videos waiting); retry in 12 s"
    assert (errors[0].retry_after, DrainingError.retry_after) == (12, 10)
    assert errors[1].status == 413


def test_a_stored_error_code_maps_to_its_class_status() -> None:
    assert status_for("worker_crashed") == 502
    assert status_for("cancelled") == 409
    assert status_for("url_timeout") == 422
    assert status_for("upload_missing") == 500
    assert status_for("no_such_code") == 500
