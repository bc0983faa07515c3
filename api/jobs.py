"""Durable job store: one SQLite database in WAL mode, used only by the front process."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    upload_path TEXT NOT NULL,
    filename TEXT,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL DEFAULT 0,
    frames INTEGER NOT NULL,
    aspects TEXT NOT NULL,
    worker_id INTEGER,
    model_started_at REAL,
    model_finished_at REAL,
    result TEXT,
    error_code TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs(created_at);
"""


@dataclass
class Job:
    """One row of the jobs table."""

    id: str
    status: JobStatus
    created_at: float
    upload_path: str
    frames: int
    aspects: tuple[str, ...]
    filename: str | None = None
    size_bytes: int = 0
    duration_s: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    crashes: int = 0
    worker_id: int | None = None
    model_started_at: float | None = None
    model_finished_at: float | None = None
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        status=row["status"],
        created_at=row["created_at"],
        upload_path=row["upload_path"],
        frames=row["frames"],
        aspects=tuple(json.loads(row["aspects"])),
        filename=row["filename"],
        size_bytes=row["size_bytes"],
        duration_s=row["duration_s"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        crashes=row["crashes"],
        worker_id=row["worker_id"],
        model_started_at=row["model_started_at"],
        model_finished_at=row["model_finished_at"],
        result=json.loads(row["result"]) if row["result"] else None,
        error_code=row["error_code"],
        error_message=row["error_message"],
    )


class JobStore:
    """Thread-safe access to the jobs table through one connection and one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> JobStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a job answered with 200/202 must survive a power cut, and inserts are rare.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(_SCHEMA)
        self._conn = conn
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("job store is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def insert(self, job: Job) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO jobs (id, status, created_at, upload_path, filename, size_bytes,"
                " duration_s, frames, aspects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.status,
                    job.created_at,
                    job.upload_path,
                    job.filename,
                    job.size_bytes,
                    job.duration_s,
                    job.frames,
                    json.dumps(list(job.aspects)),
                ),
            )

    def get(self, job_id: str) -> Job | None:
        with self._tx() as c:
            row = c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def page(
        self, *, limit: int, offset: int, status: JobStatus | None = None
    ) -> tuple[list[Job], int]:
        """Newest first; also returns the total count for the same filter."""
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self._tx() as c:
            total = c.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
            rows = c.execute(
                f"SELECT * FROM jobs {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_row_to_job(r) for r in rows], int(total)

    def counts(self) -> dict[str, int]:
        with self._tx() as c:
            rows = c.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        found = {r[0]: int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in STATUSES}

    def recover(self) -> list[Job]:
        """Jobs a dead process left running go back to queued; returns every queued job."""
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = 'queued', worker_id = NULL, started_at = NULL,"
                " model_started_at = NULL WHERE status = 'running'"
            )
            rows = c.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY rowid").fetchall()
        return [_row_to_job(r) for r in rows]

    def mark_running(self, job_id: str, worker_id: int, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1,"
                " started_at = COALESCE(started_at, ?) WHERE id = ? AND status = 'queued'",
                (worker_id, now, job_id),
            )

    def requeue(self, job_id: str, *, crashed: bool) -> int:
        """Back to queued (after a crash, a timeout of another job, a drain); returns crashes."""
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = 'queued', worker_id = NULL, model_started_at = NULL,"
                " crashes = crashes + ? WHERE id = ? AND status IN ('queued', 'running')",
                (1 if crashed else 0, job_id),
            )
            row = c.execute("SELECT crashes FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return int(row[0]) if row else 0

    def finish_done(
        self,
        job_id: str,
        result: dict[str, Any],
        *,
        model_started_at: float | None,
        model_finished_at: float | None,
        now: float | None = None,
    ) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, result = ?,"
                " model_started_at = ?, model_finished_at = ?, error_code = NULL,"
                " error_message = NULL WHERE id = ? AND status IN ('queued', 'running')",
                (
                    now or time.time(),
                    json.dumps(result),
                    model_started_at,
                    model_finished_at,
                    job_id,
                ),
            )
        return cur.rowcount == 1

    def finish_error(
        self, job_id: str, status: Literal["failed", "cancelled"], code: str, message: str
    ) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error_code = ?, error_message = ?"
                " WHERE id = ? AND status IN ('queued', 'running')",
                (status, time.time(), code, message, job_id),
            )
        return cur.rowcount == 1

    def live_upload_paths(self) -> set[str]:
        """Uploads that queued or running jobs still need."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT upload_path FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
        return {r[0] for r in rows}
