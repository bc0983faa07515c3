"""The job's ``source`` in the store: schema v6's column, and the result's ``source`` key."""

from __future__ import annotations

import sqlite3

from analyzers.schema import Source

#: the column v6 adds: Source as JSON, NULL for an upload
SOURCE_COLUMN = "source TEXT"
#: a result as it is stored: a linked job's source put in as its ``source`` (an upload's
#: result keeps the worker's null). ``?2``: the result is the statement's second parameter,
#: and the plain ``?`` after it count on from 3.
RESULT_WITH_SOURCE = (
    "CASE WHEN source IS NULL THEN ?2 ELSE json_set(?2, '$.source', json(source)) END"
)


def v5_to_v6(conn: sqlite3.Connection) -> None:
    """v6 keeps where a linked video came from (its page's information); older rows: NULL."""
    conn.execute(f"ALTER TABLE jobs ADD COLUMN {SOURCE_COLUMN}")


def source_json(source: Source | None) -> str | None:
    return source.model_dump_json() if source is not None else None


def source_of(text: str | None) -> Source | None:
    return Source.model_validate_json(text) if text else None
