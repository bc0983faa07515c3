"""The fingerprints of finished jobs, their indexes, and the lookup of a job's similar videos.

Each done job's Chromaprint items and frame hashes are kept in ``fingerprints``; two
inverted indexes map keys to jobs so that a lookup reads only the jobs that share one
(``sound_index``: the items' high bits; ``picture_index``: 16-bit bands of the frame
hashes, an LSH), and api.library.matching verifies those candidates. The rows are
written in the transaction that stores the result (JobStore.finish_done) and a trigger
removes them with the job (retention, deletion).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from analyzers.stages.fingerprints import Fingerprints
from api.library.matching import frame_keys, same_sound, same_video, sound_keys

#: the tables, their indexes and the trigger that deletes them with their job
SCHEMA = (
    "CREATE TABLE fingerprints (job_id TEXT PRIMARY KEY, audio BLOB NOT NULL,"
    " frames BLOB NOT NULL)",
    "CREATE TABLE sound_index (key INTEGER NOT NULL, job_id TEXT NOT NULL,"
    " PRIMARY KEY (key, job_id)) WITHOUT ROWID",
    "CREATE INDEX sound_index_by_job ON sound_index(job_id)",
    "CREATE TABLE picture_index (key INTEGER NOT NULL, job_id TEXT NOT NULL,"
    " PRIMARY KEY (key, job_id)) WITHOUT ROWID",
    "CREATE INDEX picture_index_by_job ON picture_index(job_id)",
    "CREATE TRIGGER fingerprints_follow_jobs AFTER DELETE ON jobs BEGIN"
    " DELETE FROM fingerprints WHERE job_id = OLD.id;"
    " DELETE FROM sound_index WHERE job_id = OLD.id;"
    " DELETE FROM picture_index WHERE job_id = OLD.id; END",
)

#: candidates verified per reason: the jobs sharing the most keys
CANDIDATES = 20
#: keys a candidate must share before it is verified
MIN_SHARED_SOUND_KEYS = 8
MIN_SHARED_FRAME_KEYS = 2

Reason = Literal["same_sound", "same_video"]


@dataclass(frozen=True)
class Similar:
    """One similar job, why, and how much of it matched (0-1)."""

    job_id: str
    reason: Reason
    score: float


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the tables (a new database, or the migration to schema 7)."""
    for statement in SCHEMA:
        conn.execute(statement)


def save(conn: sqlite3.Connection, job_id: str, data: dict[str, Any] | None) -> None:
    """Store and index one job's fingerprints (JobDone.fingerprints); nothing for None."""
    prints = Fingerprints.from_json(data)
    if prints is None:
        return
    conn.execute(
        "INSERT OR REPLACE INTO fingerprints (job_id, audio, frames) VALUES (?, ?, ?)",
        (job_id, _pack(prints.audio, "<u4"), _pack(prints.frames, "<u8")),
    )
    for table, keys in (
        ("sound_index", sound_keys(prints.audio)),
        ("picture_index", frame_keys(prints.frames)),
    ):
        conn.executemany(
            f"INSERT OR IGNORE INTO {table} (key, job_id) VALUES (?, ?)",
            [(_signed(key), job_id) for key in keys],
        )


def find(conn: sqlite3.Connection, job_id: str) -> list[Similar]:
    """The jobs whose sound or pictures match this one's, best first; [] without prints."""
    mine = _load(conn, job_id)
    if mine is None:
        return []
    found: list[Similar] = []
    checks: tuple[tuple[Reason, str, list[int], int], ...] = (
        ("same_sound", "sound_index", sound_keys(mine.audio), MIN_SHARED_SOUND_KEYS),
        ("same_video", "picture_index", frame_keys(mine.frames), MIN_SHARED_FRAME_KEYS),
    )
    for reason, table, keys, needed in checks:
        for other in _candidates(conn, table, keys, job_id, needed):
            theirs = _load(conn, other)
            if theirs is None:
                continue
            if reason == "same_sound":
                score = same_sound(mine.audio, theirs.audio)
            else:
                score = same_video(mine.frames, theirs.frames)
            if score is not None:
                found.append(Similar(other, reason, score))
    return sorted(found, key=lambda s: (-s.score, s.reason, s.job_id))


def _candidates(
    conn: sqlite3.Connection, table: str, keys: list[int], job_id: str, needed: int
) -> list[str]:
    """Jobs sharing at least ``needed`` of ``keys``, the most shared first."""
    if not keys:
        return []
    rows = conn.execute(
        f"SELECT job_id, COUNT(*) AS shared FROM {table}"
        " WHERE key IN (SELECT value FROM json_each(?)) AND job_id != ?"
        " GROUP BY job_id HAVING shared >= ? ORDER BY shared DESC LIMIT ?",
        (json.dumps([_signed(k) for k in keys]), job_id, needed, CANDIDATES),
    ).fetchall()
    return [row[0] for row in rows]


def _load(conn: sqlite3.Connection, job_id: str) -> Fingerprints | None:
    row = conn.execute(
        "SELECT audio, frames FROM fingerprints WHERE job_id = ?", (job_id,)
    ).fetchone()
    if row is None:
        return None
    audio = np.frombuffer(row[0], dtype="<u4").tolist()
    frames = np.frombuffer(row[1], dtype="<u8").tolist()
    return Fingerprints(audio, frames)


def _pack(values: list[int], dtype: str) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def _signed(key: int) -> int:
    """SQLite integers are signed 64-bit: keys above 2**63 wrap around."""
    return key - (1 << 64) if key >= 1 << 63 else key
