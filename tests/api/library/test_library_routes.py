"""GET /search and GET /library.csv on a real server: a real job indexed, stored jobs found."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs.store import JobStore
from api.settings import Settings
from tests.support.library_results import add_done_job, result_for
from tests.support.serverproc import ServerProcess, post_video

API_KEY = "library-key-0123456789"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("server-library")
    # Jobs already in the database before the server starts: 25 that say "discount".
    store = JobStore(root / "data" / "jobs.sqlite3", Settings().analysis_options()).open()
    for n in range(25):
        job_id = f"stored-{n:02d}"
        said = f"discount number {n}"
        # recent: the server's retention pass keeps them
        add_done_job(store, job_id, result_for(job_id, said=said), now=time.time())
    store.close()
    srv = ServerProcess(root, tiny_model_dir, workers=1, api_key=API_KEY, frames=1, max_upload_mb=1)
    with srv.running():
        yield srv


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def analysed(client: httpx.Client, tiny_video: Path) -> dict[str, Any]:
    """One real job, analysed by the server's worker and indexed with its result."""
    response = post_video(client, tiny_video, filename="real.mp4")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_real_jobs_caption_is_found_with_its_keyframe(
    client: httpx.Client, analysed: dict[str, Any]
) -> None:
    frame = analysed["result"]["frames"][0]
    word = max(frame["caption"].split(), key=len).strip(".,!?\"'")
    reply = client.get("/search", params={"q": f'"{word}"', "kind": "visual", "limit": 100})
    assert reply.status_code == 200, reply.text
    mine = [h for h in reply.json()["hits"] if h["job_id"] == analysed["id"]]
    assert mine and mine[0]["image"] == frame["image"] and mine[0]["file_name"] == "real.mp4"
    assert client.get(mine[0]["image"]).headers["content-type"] == "image/jpeg"


def test_search_pages_through_every_hit(client: httpx.Client) -> None:
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"q": "discount", "kind": "speech", "limit": 10}
        if after:
            params["after"] = after
        body = client.get("/search", params=params).json()
        assert body["query"] == "discount"
        seen += [h["job_id"] for h in body["hits"]]
        for hit in body["hits"]:
            assert [hit["text"][s:e].lower() for s, e in hit["highlights"]] == ["discount"]
        after = body["next_after"]
        if after is None:
            break
    assert sorted(seen) == [f"stored-{n:02d}" for n in range(25)]


@pytest.mark.parametrize(
    ("q", "code"),
    [('"unclosed', "invalid_query"), ("AND", "invalid_query"), (" ", "invalid_query")],
)
def test_bad_queries_are_422(client: httpx.Client, q: str, code: str) -> None:
    reply = client.get("/search", params={"q": q})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == code


def test_nothing_found_is_200_and_the_key_is_needed(
    client: httpx.Client, server: ServerProcess
) -> None:
    reply = client.get("/search", params={"q": "zebra"})
    assert reply.status_code == 200 and reply.json() == {
        "query": "zebra",
        "hits": [],
        "next_after": None,
    }
    assert httpx.get(f"{server.url}/search", params={"q": "zebra"}).status_code == 401
    assert httpx.get(f"{server.url}/library.csv").status_code == 401


def test_the_csv_streams_every_finished_job(client: httpx.Client, analysed: dict[str, Any]) -> None:
    with client.stream("GET", "/library.csv") as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/csv")
        text = "".join(reply.iter_text())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 26
    real = next(r for r in rows if r["id"] == analysed["id"])
    assert (
        real["file_name_or_link"] == "real.mp4" and real["summary"] == analysed["result"]["summary"]
    )
