"""The library's FTS5 search on results written through the store: queries, errors, removal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from api.errors import InvalidQueryError
from api.jobs.store import JobStore
from api.jobs.store_schema import CREATE_SQL
from api.library.search import HitPage, search
from api.library.segments import Kind
from api.settings import Settings
from tests.support.library_results import add_done_job, result_for

DEFAULTS = Settings().analysis_options()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    add_done_job(
        store, "pasta", result_for("pasta", said="today we cook pasta with a big discount")
    )
    add_done_job(
        store,
        "cafe",
        result_for(
            "cafe",
            said="welcome to the café",
            shown="BIG SALE today",
            source={
                "title": "Crème brûlée in five minutes",
                "description": None,
                "hashtags": ["dessert", "#fyp"],
            },
        ),
    )
    return store


def find(
    store: JobStore, q: str, kind: Kind | None = None, limit: int = 20, after: str | None = None
) -> HitPage:
    return store.read(lambda c: search(c, q, kind=kind, limit=limit, after=after))


def test_a_spoken_word_is_found_with_its_time_image_and_highlight(store: JobStore) -> None:
    page = find(store, "discount")
    [hit] = page.hits
    assert (hit.job_id, hit.kind, hit.file_name) == ("pasta", "speech", "clip.mp4")
    # the phrase's words start at 4.0 s, 0.4 s apart; the phrase is the whole segment
    assert hit.start_s == pytest.approx(4.0) and hit.end_s == pytest.approx(4.0 + 0.4 * 7 + 0.3)
    assert hit.image == "/jobs/pasta/frames/1"  # the frame at 4.5 s is nearest
    [(start, end)] = hit.highlights
    assert hit.text[start:end] == "discount"
    assert page.next_after is None


def test_phrase_prefix_and_diacritics(store: JobStore) -> None:
    assert {h.job_id for h in find(store, '"big sale"').hits} == {"cafe"}
    assert {h.job_id for h in find(store, "disc*").hits} == {"pasta"}
    cafe = find(store, "cafe creme brulee")  # no accents typed, accents stored
    assert cafe.hits == [] or all(h.job_id == "cafe" for h in cafe.hits)
    [hit] = find(store, "cafe").hits
    assert hit.kind == "speech" and hit.text[slice(*hit.highlights[0])] == "café"
    [title] = find(store, "brulee").hits
    assert (title.kind, title.start_s, title.image) == ("source", None, "/jobs/cafe/frames/0")
    assert [h.kind for h in find(store, "fyp").hits] == ["source"]


def test_kind_filter_and_a_query_that_finds_nothing(store: JobStore) -> None:
    assert {h.kind for h in find(store, "welcome").hits} == {"speech"}
    assert find(store, "welcome", kind="text").hits == []
    assert [h.kind for h in find(store, "kitchen", kind="visual").hits] == ["visual", "visual"]
    assert [h.kind for h in find(store, "cheerful").hits] == ["visual", "visual"]
    assert find(store, "cooking", kind="summary").hits[0].kind == "summary"
    assert find(store, "zebra").hits == []


def test_pages_follow_the_cursor_to_the_end(store: JobStore) -> None:
    first = find(store, "kitchen OR plate", limit=3)
    assert len(first.hits) == 3 and first.next_after is not None
    second = find(store, "kitchen OR plate", limit=3, after=first.next_after)
    assert len(second.hits) == 1 and second.next_after is None
    seen = [(h.job_id, h.text) for h in first.hits + second.hits]
    assert len(set(seen)) == 4


@pytest.mark.parametrize(
    "query", ['"big sale', "AND", "kitchen OR", "(kitchen", "nosuch:column", "  "]
)
def test_queries_fts5_cannot_parse_are_invalid_query(store: JobStore, query: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        find(store, query)
    assert caught.value.code == "invalid_query" and caught.value.status == 422
    assert len(caught.value.message) < 200


def test_a_foreign_cursor_is_invalid_query(store: JobStore) -> None:
    with pytest.raises(InvalidQueryError, match="after"):
        find(store, "kitchen", after="not-a-cursor")


def test_retention_removes_a_jobs_hits(store: JobStore) -> None:
    assert find(store, "discount").hits
    assert sorted(store.remove_finished_before(2000.0)) == ["cafe", "pasta"]
    assert find(store, "discount").hits == [] and find(store, "kitchen").hits == []
    leftover = store.read(lambda c: c.execute("SELECT COUNT(*) FROM search_segments").fetchone()[0])
    assert leftover == 0


def test_a_version_5_database_is_indexed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    conn = sqlite3.connect(path)
    for statement in filter(str.strip, CREATE_SQL.split(";")):
        conn.execute(statement)
    conn.execute("ALTER TABLE jobs DROP COLUMN source")  # the column v6 adds
    conn.execute(
        "INSERT INTO jobs (id, status, created_at, finished_at, upload_path, options, result)"
        " VALUES ('old', 'done', 1, 2, '/up/old', '{}', ?)",
        (json.dumps(result_for("old", said="an old discount")),),
    )
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    store = JobStore(path, DEFAULTS).open()
    assert [h.job_id for h in find(store, "discount").hits] == ["old"]
