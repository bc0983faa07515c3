"""``/library.csv``: one row per finished job, written a page of jobs at a time.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading apostrophe, so a spreadsheet shows it as text instead of running it as a formula.
Numbers are written as numbers (a negative loudness stays a number).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

from analyzers.schema import Hook, Metrics
from api.masking import masked_url

T = TypeVar("T")
#: runs a read on the job database (JobStore.read)
Reader = Callable[[Callable[[sqlite3.Connection], T]], T]

#: the creative metrics, in the schema's order (``hook_*`` from ``metrics.hook``): a metric
#: added to analyzers/schema.py gets its column
METRICS = tuple(name for name in Metrics.model_fields if name != "hook")
HOOK = tuple(Hook.model_fields)
HEADER = (
    "id",
    "file_name_or_link",
    "created",
    "duration_s",
    *METRICS,
    *(f"hook_{k}" for k in HOOK),
    "summary",
    "transcript",
    "on_screen_text",
    "source_title",
    "source_hashtags",
)
#: jobs read from the database per page: the export never holds the whole table
PAGE_JOBS = 200
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_chunks(read: Reader[list[sqlite3.Row]], page_jobs: int = PAGE_JOBS) -> Iterator[str]:
    """The CSV text: the header, then one chunk per page of done jobs, oldest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    last = 0
    while True:
        rows = read(partial(_page, after_rowid=last, limit=page_jobs))
        for row in rows:
            writer.writerow(job_row(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < page_jobs:
            return
        last = rows[-1]["rowid"]


def _page(conn: sqlite3.Connection, after_rowid: int, limit: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT rowid, id, filename, source_url, created_at, duration_s, result FROM jobs"
        " WHERE status = 'done' AND rowid > ? ORDER BY rowid LIMIT ?",
        (after_rowid, limit),
    ).fetchall()


def job_row(row: sqlite3.Row) -> list[object]:
    """One job's cells, in the order of ``HEADER``."""
    result: dict[str, Any] = json.loads(row["result"] or "{}")
    metrics = result.get("metrics") or {}
    hook = metrics.get("hook") or {}
    source = result.get("source") or {}
    transcript = result.get("transcript") or {}
    overlays = result.get("text_overlays") or []
    name = row["filename"] or (masked_url(row["source_url"]) if row["source_url"] else "")
    cells: list[object] = [
        row["id"],
        name,
        datetime.fromtimestamp(row["created_at"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        row["duration_s"],
        *(_number(metrics.get(m)) for m in METRICS),
        *(_hook(hook.get(k)) for k in HOOK),
        result.get("summary") or "",
        transcript.get("text") or "",
        " | ".join(str(o.get("text", "")) for o in overlays),
        source.get("title") or "",
        " ".join(str(t) for t in source.get("hashtags") or []),
    ]
    return [safe_cell(c) for c in cells]


def _number(value: object) -> object:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _hook(value: object) -> object:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else value


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet cannot take for a formula; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
