"""The job's ``source`` in the store: schema v6's column, and the result's ``source`` key."""

from __future__ import annotations

import sqlite3

from analyzers.schema import Source

#: the column v6 adds: Source as JSON, NULL for an upload
SOURCE_COLUMN = "source TEXT"
#: a result as it is stored: with the job's source as its ``source`` (null for an upload)
RESULT_WITH_SOURCE = "json_set(?, '$.source', json(COALESCE(source, 'null')))"


def v5_to_v6(conn: sqlite3.Connection) -> None:
    """v6 keeps where a linked video came from (its page's information); older rows: NULL."""
    conn.execute(f"ALTER TABLE jobs ADD COLUMN {SOURCE_COLUMN}")


def source_json(source: Source | None) -> str | None:
    return source.model_dump_json() if source is not None else None


def source_of(text: str | None) -> Source | None:
    return Source.model_validate_json(text) if text else None
