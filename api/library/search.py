"""A query against the library's FTS5 index: the best segments first, with their snippets.

The snippet's matches come back from FTS5 between two control characters that no text
holds; they become ``highlights`` (character offsets) so the page never renders HTML.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass

from api.errors import InvalidQueryError, shorten
from api.library.segments import Kind

_OPEN, _CLOSE = "\x02", "\x03"
#: how FTS5 words the errors of a query it cannot parse
_QUERY_ERRORS = ("fts5:", "no such column", "unterminated string", "unknown special query")
#: how many tokens a snippet shows around the matches
SNIPPET_TOKENS = 16

# Two steps: rank every match to find the page's rowids (BM25 must see them all), then join and
# cut snippets for those 21 rows only; doing both at once cost 4x on a common word.
_RANKED = """
SELECT search_fts.rowid FROM search_fts {join}
WHERE search_fts MATCH ? {kind}
ORDER BY bm25(search_fts), search_fts.rowid
LIMIT ? OFFSET ?
"""
_DETAILS = f"""
SELECT s.id, s.job_id, j.filename, j.source_url, s.kind, s.start_s, s.end_s, s.image,
       snippet(search_fts, 0, char(2), char(3), '…', {SNIPPET_TOKENS}) AS snippet
FROM search_fts
JOIN search_segments AS s ON s.id = search_fts.rowid
JOIN jobs AS j ON j.id = s.job_id
WHERE search_fts MATCH ? AND search_fts.rowid IN ({{marks}})
"""


@dataclass(frozen=True)
class Hit:
    """One segment that matched, its snippet in plain text and where the matches are in it."""

    job_id: str
    file_name: str | None
    source_url: str | None
    kind: str
    start_s: float | None
    end_s: float | None
    text: str
    highlights: list[tuple[int, int]]
    image: str | None


@dataclass(frozen=True)
class HitPage:
    hits: list[Hit]
    next_after: str | None


def search(
    conn: sqlite3.Connection, query: str, *, kind: Kind | None, limit: int, after: str | None
) -> HitPage:
    """Best hits first (BM25); ``after`` is the ``next_after`` of the page before."""
    if not query.strip():
        raise InvalidQueryError("q: empty query")
    offset = decode_cursor(after) if after else 0
    ranked = _RANKED.format(
        join="JOIN search_segments AS s ON s.id = search_fts.rowid" if kind else "",
        kind="AND s.kind = ?" if kind else "",
    )
    args = [query, *([kind] if kind else []), limit + 1, offset]
    try:
        ids = [r[0] for r in conn.execute(ranked, args).fetchall()]
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith(_QUERY_ERRORS):
            raise  # the database's trouble (locked, disk), not the query's
        raise InvalidQueryError(f"q: cannot parse the query ({_reason(exc)})") from None
    page = ids[:limit]
    details = _DETAILS.format(marks=", ".join("?" * len(page)))
    found = {r[0]: tuple(r)[1:] for r in conn.execute(details, [query, *page]).fetchall()}
    hits = [_hit(found[i]) for i in page if i in found]
    following = encode_cursor(offset + limit) if len(ids) > limit else None
    return HitPage(hits, following)


def _reason(exc: sqlite3.OperationalError) -> str:
    # FTS5's own words, minus its prefix: 'syntax error near "AND"', 'unterminated string'
    return shorten(str(exc).removeprefix("fts5: "))


def _hit(row: tuple[object, ...]) -> Hit:
    job_id, filename, source_url, kind, start_s, end_s, image, snippet = row
    text, highlights = split_marks(str(snippet))
    return Hit(
        job_id=str(job_id),
        file_name=str(filename) if filename else None,
        source_url=str(source_url) if source_url else None,
        kind=str(kind),
        start_s=float(start_s) if isinstance(start_s, float | int) else None,
        end_s=float(end_s) if isinstance(end_s, float | int) else None,
        text=text,
        highlights=highlights,
        image=str(image) if image else None,
    )


def split_marks(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet without FTS5's markers, and the ``[start, end)`` offsets they enclosed."""
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    start = 0
    length = 0
    for char in marked:
        if char == _OPEN:
            start = length
        elif char == _CLOSE:
            spans.append((start, length))
        else:
            text.append(char)
            length += 1
    return "".join(text), spans


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page that starts at ``offset``."""
    raw = json.dumps({"o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; InvalidQueryError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError):  # binascii.Error is a ValueError
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidQueryError("after: not a cursor from a search's next_after")
    return offset
