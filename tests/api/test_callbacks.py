"""Completion callbacks from a real server to a receiver the test runs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs.store import JobStore
from api.settings import Settings
from tests.support.loopback import FlakyReceiver, LoopbackSite
from tests.support.serverproc import ServerProcess, post_video, wait_for


@pytest.fixture(scope="module")
def receiver() -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    with web.running():
        yield web


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """Private addresses allowed, so the test's own receiver may be called; quick retries."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-callbacks"),
        tiny_model_dir,
        workers=1,
        url_allow_private="true",
        callback_backoff_s=0.2,
        callback_retry_s=300,
    )
    with srv.running():
        yield srv


def _callback(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    callback: dict[str, Any] = response.json()["callback"]
    return callback


def test_a_callback_is_retried_until_delivered_and_recorded(
    server: ServerProcess, receiver: LoopbackSite, tiny_video: Path
) -> None:
    receiver.routes["/hook"] = FlakyReceiver(failures=2)
    with server.client() as client:
        response = post_video(client, tiny_video, frames=1, callback_url=receiver.url("/hook"))
        assert response.status_code == 200, response.text
        job_id = response.json()["id"]
        wait_for(lambda: _callback(client, job_id)["status"] == "delivered", 60, "delivery")
        callback = _callback(client, job_id)
        assert callback["url"] == receiver.url("/hook")
        assert callback["attempts"] == 3 and callback["delivered_at"] is not None
        assert callback["last_error"] == "the receiver answered HTTP 500"
        bodies = receiver.posts("/hook")
        assert len(bodies) == 3 and all(b == bodies[0] for b in bodies)
        body = bodies[-1]
        assert (body["job_id"], body["status"], body["error"]) == (job_id, "done", None)
        assert body["links"]["job"] == f"{server.url}/jobs/{job_id}"
        result = client.get(body["links"]["result"])
        assert result.status_code == 200 and result.json()["frames"]


def test_an_undelivered_callback_is_resumed_after_a_restart(
    server: ServerProcess, receiver: LoopbackSite, tiny_video: Path
) -> None:
    receiver.routes["/down"] = FlakyReceiver(failures=1_000_000)
    with server.client() as client:
        response = post_video(client, tiny_video, frames=1, callback_url=receiver.url("/down"))
        assert response.status_code == 200, response.text
        job_id = response.json()["id"]
        wait_for(lambda: _callback(client, job_id)["attempts"] >= 2, 60, "failed attempts")
    assert server.stop() == 0
    failed_before = _callback_of_stopped(server, job_id)
    receiver.routes["/down"] = FlakyReceiver(failures=0)  # the receiver is back
    server.start()
    server.wait_ready()
    with server.client() as client:
        wait_for(lambda: _callback(client, job_id)["status"] == "delivered", 60, "delivery")
        assert _callback(client, job_id)["attempts"] == failed_before + 1


def _callback_of_stopped(server: ServerProcess, job_id: str) -> int:
    """Attempts recorded in the database while the server is down."""
    store = JobStore(server.root / "data" / "jobs.sqlite3", Settings().analysis_options()).open()
    try:
        job = store.get(job_id)
    finally:
        store.close()
    assert job is not None and job.callback is not None
    assert job.callback.status == "pending"
    return job.callback.attempts
