"""The search index's tables in the job database, and the rows a finished job adds to them.

``search_segments`` holds each segment once; ``search_fts`` is an FTS5 index over it (external
content, so the text is not stored twice). Triggers keep the two in step, and a job's rows go
with the job (``DELETE FROM jobs`` by retention or anything else).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from api.library.segments import segments

#: run one by one: executescript() would commit the store's open transaction
CREATE_STATEMENTS = (
    """CREATE TABLE search_segments (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_s REAL,
        end_s REAL,
        image TEXT,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX search_segments_by_job ON search_segments(job_id)",
    # remove_diacritics 2: "cafe" finds "café" whatever the letters' composition
    """CREATE VIRTUAL TABLE search_fts USING fts5(
        body, content='search_segments', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER search_segments_added AFTER INSERT ON search_segments BEGIN
        INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER search_segments_removed AFTER DELETE ON search_segments BEGIN
        INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER search_job_removed AFTER DELETE ON jobs BEGIN
        DELETE FROM search_segments WHERE job_id = old.id;
    END""",
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Add the index's tables and triggers (a new database, or the migration to it)."""
    for statement in CREATE_STATEMENTS:
        conn.execute(statement)


def index_result(conn: sqlite3.Connection, job_id: str, result: dict[str, Any]) -> int:
    """Replace the job's rows with the segments of ``result``; how many were written."""
    conn.execute("DELETE FROM search_segments WHERE job_id = ?", (job_id,))
    rows = [(job_id, s.kind, s.start_s, s.end_s, s.image, s.text) for s in segments(result)]
    conn.executemany(
        "INSERT INTO search_segments (job_id, kind, start_s, end_s, image, body)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def index_stored_results(conn: sqlite3.Connection) -> int:
    """Index every done job already in the database (the migration); how many jobs."""
    count = 0
    cursor = conn.execute(
        "SELECT id, result FROM jobs WHERE status = 'done' AND result IS NOT NULL"
    )
    # fetchmany: an old database may hold many results; keep only a page of them in memory
    while batch := cursor.fetchmany(200):
        for job_id, text in batch:
            index_result(conn, job_id, json.loads(text))
            count += 1
    return count
