"""Workers that crash, hang or go silent; the API key. Each scenario on its own server."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.serverproc import (
    NotifyListener,
    ServerProcess,
    hanging,
    post_video,
    submit,
    wait_final,
    wait_for,
)

API_KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def slow_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """Every model call takes 3 s (test hook), so a job is reliably mid-way when we strike."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-slow"),
        tiny_model_dir,
        **hanging(3),
        job_timeout_s=60,
        heartbeat_timeout_s=3,
    )
    with srv.running():
        yield srv


@pytest.fixture(scope="module")
def hung_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    """The model call never returns in time (test hook); jobs get 3 s; API key required."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-hung"),
        tiny_model_dir,
        workers=1,
        **hanging(600),
        job_timeout_s=3,
        api_key=API_KEY,
    )
    with srv.running():
        yield srv


def _worker(srv: ServerProcess, slot: int) -> dict[str, Any]:
    return next(w for w in srv.health()[1]["workers"] if w["id"] == slot)


def _replaced(srv: ServerProcess, slot: int, old_pid: int) -> bool:
    worker = _worker(srv, slot)
    return worker["state"] == "READY" and worker["pid"] not in (None, old_pid)


def test_kill_9_mid_job_retries_on_another_worker(
    slow_server: ServerProcess, tiny_video: Path
) -> None:
    with slow_server.client() as client:
        job_id = submit(client, tiny_video, frames=1)
        busy = wait_for(
            lambda: next(
                (w for w in slow_server.health()[1]["workers"] if w["current_job"] == job_id), None
            ),
            20,
            "the job on a worker",
        )
        os.kill(busy["pid"], signal.SIGKILL)
        final = wait_final(client, job_id, timeout=60)
    assert final["status"] == "done", final  # retried once, on the surviving worker
    assert final["attempts"] == 2
    assert final["worker_id"] != busy["id"]
    wait_for(lambda: _replaced(slow_server, busy["id"], busy["pid"]), 60, "a new worker")
    status, health = slow_server.health()
    assert status == 200
    assert _worker(slow_server, busy["id"])["restarts"] == 1
    assert health["jobs"]["running"] == 0


def test_silent_worker_is_replaced(slow_server: ServerProcess) -> None:
    """SIGSTOP freezes a worker: it looks alive, but its heartbeats stop."""
    wait_for(lambda: slow_server.health()[1]["busy_workers"] == 0, 30, "idle workers")
    victim = _worker(slow_server, 0)
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        wait_for(lambda: _replaced(slow_server, 0, victim["pid"]), 60, "the frozen worker replaced")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim["pid"], signal.SIGKILL)
    assert _worker(slow_server, 0)["restarts"] == victim["restarts"] + 1
    assert slow_server.health()[0] == 200


def test_hung_model_call_times_out_and_worker_is_replaced(
    hung_server: ServerProcess, tiny_video: Path
) -> None:
    before = _worker(hung_server, 0)
    with hung_server.client() as client:
        response = post_video(client, tiny_video, frames=1)
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["code"] == "timed_out" and "timed out" in error["message"]
        job = client.get(f"/jobs/{error['job_id']}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "timed_out"
    wait_for(lambda: _replaced(hung_server, 0, before["pid"]), 60, "a new worker")
    assert _worker(hung_server, 0)["restarts"] == before["restarts"] + 1


def test_api_key_is_required_everywhere_but_liveness(hung_server: ServerProcess) -> None:
    url = hung_server.url
    for path in ("/health", "/jobs", "/metrics", "/docs", "/openapi.json", "/nowhere"):
        response = httpx.get(url + path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
    assert httpx.get(url + "/health", headers={"X-API-Key": "wrong"}).status_code == 401
    assert httpx.post(url + "/analyze", files={"file": ("a.mp4", b"x")}).status_code == 401
    assert httpx.get(url + "/health/live").status_code == 200
    assert httpx.get(url + "/jobs", headers={"X-API-Key": API_KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.get(url + "/jobs", headers=bearer).status_code == 200
    spec = httpx.get(url + "/openapi.json", headers=bearer).json()
    assert "ApiKeyHeader" in spec["components"]["securitySchemes"]
    assert "401" in spec["paths"]["/analyze"]["post"]["responses"]
    assert spec["paths"]["/health/live"]["get"]["security"] == []


def test_model_that_cannot_load_gives_503_with_the_reason(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "srv", tmp_path / "no-such-model", workers=1)
    with srv.running(ready=False):
        body = wait_for(
            lambda: (h := srv.health())[1]["workers"][0]["state"] == "ERROR" and h, 120, "ERROR"
        )
        status, health = body
        assert status == 503
        assert health["status"] == "degraded" and health["ready"] is False
        assert health["reason"].startswith("model_unavailable:"), health["reason"]
        assert "model_load_failed" in health["reason"]
        with srv.client() as client:
            refused = client.post("/analyze", files={"file": ("a.mp4", b"x" * 100)})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"
        assert srv.health()[1]["jobs"]["queued"] == 0  # nothing was queued
        # No restart loop: the failed worker is counted once when it exits, then never
        # replaced (a loop would back off 0.5, 1, 2 s ... and keep counting).
        time.sleep(4)
        restarts = srv.health()[1]["workers"][0]["restarts"]
        assert restarts <= 1
        time.sleep(4)
        worker = srv.health()[1]["workers"][0]
        assert (worker["state"], worker["restarts"]) == ("ERROR", restarts)
        assert httpx.get(f"{srv.url}/health/live").status_code == 200
        assert srv.stop(timeout=30) == 0


def test_under_systemd_a_config_error_fails_the_start_with_78(
    tmp_path: Path, notify: NotifyListener
) -> None:
    srv = ServerProcess(tmp_path / "srv", tmp_path / "no-such-model", workers=1)
    assert srv.exit_code({"NOTIFY_SOCKET": notify.address}) == 78
    assert any("STATUS=model unavailable" in m and "no-such-model" in m for m in notify.messages), (
        notify.messages
    )
