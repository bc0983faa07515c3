"""disk_full and shorten: the shared checks the serving side uses for errors."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from api.errors import disk_full, shorten


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
