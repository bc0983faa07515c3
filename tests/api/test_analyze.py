"""Analysis through the real server: sync, async, concurrency, jobs, health, metrics, docs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.serverproc import NotifyListener, ServerProcess, post_video, wait_final, wait_for


def test_health_reports_ready_workers_and_model(server: ServerProcess) -> None:
    status, body = server.health()
    assert status == 200
    assert body["status"] == "ready" and body["ready"] is True and body["reason"] is None
    assert body["model"]["test_model"] is True
    assert body["model"]["quantization"] == "fp32"
    assert body["model"]["analyzer"] == "blip2"
    assert len(body["workers"]) == 2
    for worker in body["workers"]:
        assert set(worker) == {
            "id", "state", "device", "pid", "node", "current_job", "restarts",
            "last_heartbeat_age_s",
        }  # fmt: skip
        assert worker["device"] == "cpu" and worker["pid"] > 0
        assert worker["last_heartbeat_age_s"] < 5
    assert set(body["jobs"]) == {"queued", "running", "done", "failed", "cancelled"}
    assert body["uptime_s"] > 0 and body["version"]
    assert httpx.get(f"{server.url}/health/live").json() == {"status": "alive"}


def test_sync_analysis_returns_the_full_result(server: ServerProcess, short_video: Path) -> None:
    with server.client() as client:
        response = post_video(client, short_video, frames=3, aspects="scene, mood")
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done" and job["attempts"] == 1
    assert job["filename"] == short_video.name
    result = job["result"]
    assert len(result["frames"]) == 3
    assert set(result["aspects"]) == {"scene", "mood"}
    assert result["video"]["orientation"] == "vertical" and result["video"]["has_audio"]
    assert result["model"]["test_model"] is True
    assert any(w.startswith("random-weight test model") for w in result["warnings"])
    assert result["schema_version"] >= 2
    assert job["timings"]["model_started_at"] <= job["timings"]["model_finished_at"]
    assert job["video_duration_s"] > 3


def test_async_analysis_gives_202_and_a_location_to_poll(
    server: ServerProcess, tiny_video: Path
) -> None:
    with server.client() as client:
        response = post_video(client, tiny_video, wait="false")
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert response.headers["location"] == f"/jobs/{job_id}"
        assert response.json()["status"] in {"queued", "running", "done"}
        final = wait_final(client, job_id)
        assert final["status"] == "done"
        assert len(final["result"]["frames"]) == 2  # the server's default frames setting
        # Options in the query string work too.
        response = post_video(client, tiny_video, params={"wait": "false", "aspects": "people"})
        assert response.status_code == 202
        assert wait_final(client, response.json()["id"])["aspects"] == ["people"]


def test_twenty_concurrent_uploads_all_complete(server: ServerProcess, tiny_video: Path) -> None:
    limits = httpx.Limits(max_connections=25)
    with server.client(limits=limits) as client, ThreadPoolExecutor(20) as pool:
        responses = list(
            pool.map(lambda i: post_video(client, tiny_video, frames=1, aspects="scene"), range(20))
        )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 20
    assert all(len(r.json()["result"]["frames"]) == 1 for r in responses)
    assert {r.json()["worker_id"] for r in responses} == {0, 1}  # both workers took jobs


def test_job_listing_is_paginated_newest_first(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        for _ in range(3):
            assert post_video(client, tiny_video, frames=1).status_code == 200
        first = client.get("/jobs", params={"limit": 2}).json()
        second = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
        assert len(first["jobs"]) == 2 and first["next_offset"] == 2
        assert first["total"] >= 3
        assert first["jobs"][0]["created_at"] >= first["jobs"][1]["created_at"]
        assert first["jobs"][1]["created_at"] >= second["jobs"][0]["created_at"]
        assert all(j["result"] is None for j in first["jobs"])  # listing stays light
        done = client.get("/jobs", params={"status": "done", "limit": 200}).json()
        assert all(j["status"] == "done" for j in done["jobs"])
        assert client.get("/jobs", params={"limit": 0}).status_code == 422


def test_unknown_and_finished_jobs_cannot_be_cancelled(
    server: ServerProcess, tiny_video: Path
) -> None:
    with server.client() as client:
        missing = client.delete("/jobs/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
        assert client.get("/jobs/nope").status_code == 404
        job_id = post_video(client, tiny_video, frames=1).json()["id"]
        refused = client.delete(f"/jobs/{job_id}")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "not_cancellable"
        assert "done" in refused.json()["error"]["message"]


def test_client_file_name_is_never_a_path(server: ServerProcess, tiny_video: Path) -> None:
    evil = "../../../escaped.mp4"
    with server.client() as client:
        response = post_video(client, tiny_video, filename=evil, frames=1)
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == evil
    assert not (server.root / "escaped.mp4").exists()
    assert not (server.root.parent / "escaped.mp4").exists()
    assert list(server.uploads_dir.iterdir()) == []  # finished jobs leave no upload behind


def test_release_memory_asks_idle_workers(server: ServerProcess) -> None:
    with server.client() as client:
        wait_for(lambda: server.health()[1]["busy_workers"] == 0, 30, "idle workers")
        response = client.post("/admin/release-memory")
    assert response.status_code == 200
    assert response.json() == {"workers_asked": 2}


def test_metrics_expose_the_service_names(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        job_id = post_video(client, tiny_video, frames=1).json()["id"]
        assert client.get(f"/jobs/{job_id}").status_code == 200
        text = client.get("/metrics").text
    for name in (
        "tiktok_analyzer_http_requests_total",
        "tiktok_analyzer_jobs_total",
        "tiktok_analyzer_job_duration_seconds_bucket",
        "tiktok_analyzer_job_realtime_factor_ratio_bucket",
        "tiktok_analyzer_job_queue_wait_seconds_bucket",
        "tiktok_analyzer_build_info",
        "tiktok_analyzer_queue_depth",
        "tiktok_analyzer_busy_workers",
        "tiktok_analyzer_worker_restarts_total",
    ):
        assert name in text, name
    assert 'route="/analyze"' in text and 'state="done"' in text
    assert "_created" not in text
    assert f'backend="{server.env["TIKTOK_ANALYZER_BACKEND"]}"' in text
    # Requests are counted by route template, never by the id in the path.
    assert 'route="/jobs/{job_id}"' in text and job_id not in text


def test_docs_and_openapi_describe_the_real_routes(server: ServerProcess) -> None:
    with server.client() as client:
        assert client.get("/docs").status_code == 200
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/analyze", "/jobs", "/jobs/{job_id}", "/health", "/health/live", "/metrics"):
        assert path in paths
    analyze = paths["/analyze"]["post"]
    assert {"200", "202", "413", "415", "422", "503"} <= set(analyze["responses"])
    body = analyze["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and "frames" in body["properties"]
    assert "503" in paths["/health"]["get"]["responses"]
    assert {"404", "409"} <= set(paths["/jobs/{job_id}"]["delete"]["responses"])
    assert "security" not in spec  # no API key on this server


def test_systemd_notify_ready_and_watchdog(server: ServerProcess, notify: NotifyListener) -> None:
    wait_for(lambda: notify.received("READY=1"), 10, "READY=1")
    wait_for(lambda: notify.received("WATCHDOG=1"), 10, "WATCHDOG=1")
    count = sum(m == "WATCHDOG=1" for m in notify.messages)
    wait_for(lambda: sum(m == "WATCHDOG=1" for m in notify.messages) > count, 5, "another ping")


def test_log_file_has_worker_lines_and_job_ids(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        job_id = post_video(client, tiny_video, frames=1).json()["id"]

    def all_logs() -> str:  # a rotated file may hold the start-up lines
        return "".join(p.read_text() for p in sorted(server.log_file.parent.glob("*.log*")))

    text = wait_for(lambda: (t := all_logs()) and f"job={job_id}" in t and t, 10, "job line")
    assert "worker-0" in text and "worker-1" in text  # worker records reach the one writer
    assert any("analysed in" in line and f"job={job_id}" in line for line in text.splitlines())


def test_log_file_is_reopened_after_logrotate_moves_it(
    server: ServerProcess, tiny_video: Path
) -> None:
    """logrotate's 'create' mode renames the file; the single writer must start a new one."""
    rotated = server.log_file.with_name("stable_multiprocess_api.log.1")
    server.log_file.rename(rotated)
    with server.client() as client:
        job_id = post_video(client, tiny_video, frames=1).json()["id"]
    wait_for(
        lambda: server.log_file.exists() and f"job={job_id}" in server.log_file.read_text(),
        10,
        "the job's lines in the new log file",
    )
    assert f"job={job_id}" not in rotated.read_text()


def test_keyframes_and_exports_of_a_finished_job(server: ServerProcess, short_video: Path) -> None:
    from io import BytesIO

    from PIL import Image

    with server.client() as client:
        job = post_video(client, short_video, frames=2, aspects="scene").json()
        frames = job["result"]["frames"]
        assert [f["image"] for f in frames] == [f"/jobs/{job['id']}/frames/{n}" for n in (0, 1)]
        picture = client.get(frames[1]["image"])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        width, height = Image.open(BytesIO(picture.content)).size
        assert 300 <= height <= 400 and width > 0
        assert client.get(f"/jobs/{job['id']}/frames/9").json()["error"]["code"] == (
            "frame_not_found"
        )
        for fmt, media, marker in (
            ("md", "text/markdown", "#"),
            ("srt", "application/x-subrip", "-->"),
            ("vtt", "text/vtt", "WEBVTT"),
            ("json", "application/json", '"summary"'),
        ):
            response = client.get(f"/jobs/{job['id']}/export", params={"format": fmt})
            assert response.status_code == 200, (fmt, response.text)
            assert response.headers["content-type"].startswith(media)
            assert marker in response.text
        assert client.get(f"/jobs/{job['id']}/export", params={"format": "pdf"}).status_code == 422
        assert client.get("/jobs/nope/export").status_code == 404
