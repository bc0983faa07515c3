"""The job store's schema: the tables of a new database and the migrations of older ones.

``PRAGMA user_version`` is the schema's version; ``MIGRATIONS[n]`` takes a database from
version n to n + 1, so a database written by any earlier release opens with its jobs intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from api.jobs.source_column import v5_to_v6
from api.library import index as search_index
from api.library import similar

SCHEMA_VERSION = 8

#: the web page's sessions (api/http/sessions.py): a token's hash, never the token
CREATE_SESSIONS = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    key_tag TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
)
"""

CREATE_SQL = """
CREATE TABLE jobs (
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
    options TEXT NOT NULL,
    worker_id INTEGER,
    model_started_at REAL,
    model_finished_at REAL,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    source_url TEXT,
    callback_url TEXT,
    callback_status TEXT,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_last_error TEXT,
    callback_delivered_at REAL,
    probe TEXT,
    source TEXT
);
CREATE INDEX jobs_by_status ON jobs(status);
CREATE INDEX jobs_by_created ON jobs(created_at);
"""
CREATE_SQL += CREATE_SESSIONS

#: every column but ``result`` (the analysis JSON, the one big one), for the lists that omit it
SUMMARY_COLUMNS = (
    "id, status, created_at, started_at, finished_at, attempts, crashes, upload_path,"
    " filename, size_bytes, duration_s, options, worker_id, model_started_at,"
    " model_finished_at, error_code, error_message, source_url, callback_url,"
    " callback_status, callback_attempts, callback_last_error, callback_delivered_at, probe,"
    " source"
)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Release 0.1 kept frames and aspects in columns; v2 keeps all options as JSON."""
    conn.execute("ALTER TABLE jobs ADD COLUMN options TEXT NOT NULL DEFAULT '{}'")
    conn.execute(
        "UPDATE jobs SET options = json_object('frames', frames, 'aspects', json(aspects))"
    )
    conn.execute("ALTER TABLE jobs DROP COLUMN frames")
    conn.execute("ALTER TABLE jobs DROP COLUMN aspects")


_V3_COLUMNS = (
    "source_url TEXT",
    "callback_url TEXT",
    "callback_status TEXT",
    "callback_attempts INTEGER NOT NULL DEFAULT 0",
    "callback_last_error TEXT",
    "callback_delivered_at REAL",
)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """v3 remembers a video link's source and the completion callback with its delivery."""
    for column in _V3_COLUMNS:
        conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """v4 keeps the probe made at intake (VideoInfo JSON); older rows have none (NULL)."""
    conn.execute("ALTER TABLE jobs ADD COLUMN probe TEXT")


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """v5 keeps the web page's sessions (before, the cookie was derived from the key)."""
    conn.execute(CREATE_SESSIONS)


def _v6_to_v7(conn: sqlite3.Connection) -> None:
    """v7 keeps finished jobs' fingerprints and their indexes (api/library/similar.py)."""
    similar.create_tables(conn)


def _v7_to_v8(conn: sqlite3.Connection) -> None:
    """v8 adds the library's search index (api/library/index.py), filled from stored results."""
    search_index.create_tables(conn)
    search_index.index_stored_results(conn)


#: MIGRATIONS[n] takes a database from version n to n + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: v5_to_v6,
    6: _v6_to_v7,
    7: _v7_to_v8,
}


def create_tables(conn: sqlite3.Connection) -> None:
    """A new database's tables, at SCHEMA_VERSION, inside the caller's transaction."""
    for statement in filter(str.strip, CREATE_SQL.split(";")):
        conn.execute(statement)  # executescript() would commit the caller's transaction
    similar.create_tables(conn)
    search_index.create_tables(conn)
