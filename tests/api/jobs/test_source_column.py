"""The job's ``source`` in the store (schema v6): kept, put into the result, migrated to."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from analyzers.schema import Music, Source
from api.jobs.store import JobStore
from api.library.search import search
from tests.api.jobs.test_store import DEFAULTS, V1_DATABASE, _job

SOURCE = Source(
    url="https://vm.tiktok.com/ZMe1kqr2P/",
    site="tiktok",
    title="pasta",
    hashtags=["food"],
    music=Music(title="original sound"),
)


def test_a_linked_job_keeps_its_source_and_its_result_carries_it(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    store.insert(dataclasses.replace(_job("link"), source=SOURCE))
    store.insert(_job("upload"))
    for job_id in ("link", "upload"):
        store.finish_done(
            job_id, {"summary": "s", "source": None}, model_started_at=1.0, model_finished_at=2.0
        )
    linked, uploaded = store.get("link"), store.get("upload")
    assert linked is not None and uploaded is not None
    assert linked.source == SOURCE and linked.result is not None
    assert linked.result["source"] == SOURCE.model_dump(mode="json")
    assert uploaded.source is None and uploaded.result == {"summary": "s", "source": None}
    store.close()


def test_rows_of_older_releases_have_no_source(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(V1_DATABASE, path)
    store = JobStore(path, DEFAULTS).open()
    jobs, _ = store.page(limit=10, offset=0)
    assert jobs and all(job.source is None for job in jobs)
    store.close()


def test_a_linked_jobs_page_text_is_searchable_with_its_result(tmp_path: Path) -> None:
    """The worker's result has no source; the index sees the stored one, source included."""
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    store.insert(dataclasses.replace(_job("link"), source=SOURCE))
    store.finish_done(
        "link", {"summary": "s", "source": None}, model_started_at=1.0, model_finished_at=2.0
    )
    page = store.read(lambda c: search(c, "food", kind="source", limit=5, after=None))
    assert [(hit.job_id, hit.kind) for hit in page.hits] == [("link", "source")]
    store.close()
