"""Durable job store: one SQLite database in WAL mode, used only by the front process.

The schema (api/jobs/store_schema.py) carries a version and migrates forward on open, so
a database written by an earlier release opens with its jobs intact.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from analyzers.options import AnalysisOptions
from analyzers.schema import VideoInfo
from api.jobs.record import STATUSES, Callback, Job, JobStatus
from api.jobs.source_column import RESULT_WITH_SOURCE, source_json, source_of
from api.jobs.store_schema import MIGRATIONS, SCHEMA_VERSION, SUMMARY_COLUMNS, create_tables
from api.library import index as search_index
from api.library import similar

T = TypeVar("T")


def _with_source(conn: sqlite3.Connection, job_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """The result as stored: a linked job's ``source`` is put in by SQL (source_column.py)."""
    row = conn.execute("SELECT source FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return {**result, "source": json.loads(row[0])} if row and row[0] else result


def _callback(row: sqlite3.Row) -> Callback | None:
    if not row["callback_url"]:
        return None
    return Callback(
        url=row["callback_url"],
        status=row["callback_status"] or "pending",
        attempts=row["callback_attempts"],
        last_error=row["callback_last_error"],
        delivered_at=row["callback_delivered_at"],
    )


class JobStore:
    """Thread-safe access to the jobs table through one connection and one lock.

    ``defaults`` fills option fields that rows written by older releases lack.
    """

    def __init__(self, path: Path, defaults: AnalysisOptions) -> None:
        self.path = path
        self.defaults = defaults
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        # The library's reads (a search can take seconds) use their own connection: in WAL
        # mode they see committed data without holding up the job writes.
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None

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
        # A bounded page cache (1 MB): the front's memory stays flat however many jobs pass.
        conn.execute("PRAGMA cache_size=-1024")
        self._conn = conn
        self._migrate()
        reader = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        reader.execute("PRAGMA busy_timeout=10000")
        self._reader = reader
        return self

    def _migrate(self) -> None:
        with self._tx() as c:
            version = int(c.execute("PRAGMA user_version").fetchone()[0])
            has_table = c.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
            ).fetchone()
            if not has_table:
                create_tables(c)
                version = SCHEMA_VERSION
            elif version == 0:
                version = 1  # release 0.1 set no version
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer release (schema {version}); "
                    f"this one reads up to {SCHEMA_VERSION}"
                )
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](c)
                version += 1
            c.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        with self._lock, self._read_lock:
            for conn in (self._conn, self._reader):
                if conn is not None:
                    conn.close()
            self._conn = self._reader = None

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

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` in one read transaction on the reading connection (the library's)."""
        with self._read_lock:
            if self._reader is None:
                raise RuntimeError("job store is closed")
            self._reader.execute("BEGIN")
            try:
                return query(self._reader)
            finally:
                self._reader.execute("ROLLBACK")  # a read: nothing to commit

    # --- rows <-> records ----------------------------------------------------------
    def _options(self, text: str) -> AnalysisOptions:
        stored: dict[str, Any] = json.loads(text or "{}")
        if "aspects" in stored:
            stored["aspects"] = tuple(stored["aspects"])
        known = {f.name for f in dataclasses.fields(AnalysisOptions)}
        return dataclasses.replace(self.defaults, **{k: v for k, v in stored.items() if k in known})

    def _job(self, row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"],
            options=self._options(row["options"]),
            upload=Path(row["upload_path"]),
            filename=row["filename"],
            size_bytes=row["size_bytes"],
            duration_s=row["duration_s"],
            status=row["status"],
            created_at=row["created_at"],
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
            source_url=row["source_url"],
            callback=_callback(row),
            probe=VideoInfo.model_validate_json(row["probe"]) if row["probe"] else None,
            source=source_of(row["source"]),
        )

    # --- callbacks --------------------------------------------------------------------
    def record_callback(self, job_id: str, callback: Callback) -> None:
        """Store how delivery of the job's callback went so far."""
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET callback_status = ?, callback_attempts = ?,"
                " callback_last_error = ?, callback_delivered_at = ? WHERE id = ?",
                (
                    callback.status,
                    callback.attempts,
                    callback.last_error,
                    callback.delivered_at,
                    job_id,
                ),
            )

    def pending_callbacks(self) -> list[str]:
        """Ended jobs whose callback is still to be delivered, oldest end first."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT id FROM jobs WHERE callback_status = 'pending'"
                " AND status IN ('done', 'failed', 'cancelled') ORDER BY finished_at"
            ).fetchall()
        return [r[0] for r in rows]

    # --- queries ---------------------------------------------------------------------
    def insert(self, job: Job) -> None:
        options = dataclasses.asdict(job.options)
        with self._tx() as c:
            c.execute(
                "INSERT INTO jobs (id, status, created_at, upload_path, filename, size_bytes,"
                " duration_s, options, source_url, callback_url, callback_status, probe, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.status,
                    job.created_at,
                    str(job.upload),
                    job.filename,
                    job.size_bytes,
                    job.duration_s,
                    json.dumps(options),
                    job.source_url,
                    job.callback.url if job.callback else None,
                    job.callback.status if job.callback else None,
                    job.probe.model_dump_json() if job.probe else None,
                    source_json(job.source),
                ),
            )

    def get(self, job_id: str) -> Job | None:
        with self._tx() as c:
            row = c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def page(
        self,
        *,
        limit: int,
        offset: int = 0,
        status: JobStatus | None = None,
        after: str | None = None,
        with_result: bool = True,
    ) -> tuple[list[Job], int]:
        """Newest first, from ``offset`` or after the job ``after`` (a cursor that stays put
        while new jobs arrive); also returns the total count for the status filter.
        ``with_result=False`` leaves every ``result`` None (neither read nor parsed).
        KeyError when ``after`` names no job."""
        columns = "*" if with_result else f"{SUMMARY_COLUMNS}, NULL AS result"
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self._tx() as c:
            total = c.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
            if after is not None:
                mark = c.execute(
                    "SELECT created_at, rowid FROM jobs WHERE id = ?", (after,)
                ).fetchone()
                if mark is None:
                    raise KeyError(after)
                where = f"{where} {'AND' if where else 'WHERE'} (created_at, rowid) < (?, ?)"
                args = [*args, mark[0], mark[1]]
            rows = c.execute(
                f"SELECT {columns} FROM jobs {where}"
                " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [self._job(r) for r in rows], int(total)

    def remove_finished_before(self, cutoff: float) -> list[str]:
        """Delete jobs that ended before ``cutoff`` (epoch s), results and all; their ids."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT id FROM jobs WHERE status IN ('done', 'failed', 'cancelled')"
                " AND finished_at < ?",
                (cutoff,),
            ).fetchall()
            c.executemany("DELETE FROM jobs WHERE id = ?", [(r[0],) for r in rows])
        return [r[0] for r in rows]

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
        return [self._job(r) for r in rows]

    def mark_running(self, job_id: str, worker_id: int, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1,"
                " started_at = COALESCE(started_at, ?) WHERE id = ? AND status = 'queued'",
                (worker_id, now, job_id),
            )

    def requeue(self, job_id: str, *, crashed: bool) -> None:
        """Back to queued (after a crash, a timeout of another job, a drain)."""
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = 'queued', worker_id = NULL, model_started_at = NULL,"
                " crashes = crashes + ? WHERE id = ? AND status IN ('queued', 'running')",
                (1 if crashed else 0, job_id),
            )

    def finish_done(
        self,
        job_id: str,
        result: dict[str, Any],
        *,
        model_started_at: float | None,
        model_finished_at: float | None,
        now: float | None = None,
        fingerprints: dict[str, Any] | None = None,
    ) -> bool:
        """Store the result (and index the fingerprints) of a queued or running job."""
        with self._tx() as c:
            cur = c.execute(
                f"UPDATE jobs SET status = 'done', finished_at = ?, result = {RESULT_WITH_SOURCE},"
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
            if cur.rowcount == 1:  # indexed with the result, or neither is written
                similar.save(c, job_id, fingerprints)
                search_index.index_result(c, job_id, _with_source(c, job_id, result))
        return cur.rowcount == 1

    def similar_jobs(self, job_id: str) -> list[similar.Similar]:
        """The jobs that share this one's sound or pictures (api/library/similar.py).

        On the reading connection: verifying the candidates takes a while, and job writes
        must not wait behind it.
        """
        return self.read(lambda c: similar.find(c, job_id))

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

    def live_uploads(self) -> set[Path]:
        """Uploads that queued or running jobs still need."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT upload_path FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
        return {Path(r[0]) for r in rows}
