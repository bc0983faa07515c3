"""Queue overflow, SIGTERM drain and SIGKILL of the front: no accepted job is ever lost."""

from __future__ import annotations

import signal
import sqlite3
import uuid
from pathlib import Path

import httpx
import psutil

from tests.support.serverproc import (
    NotifyListener,
    ServerProcess,
    hanging,
    post_video,
    submit,
    wait_final,
    wait_for,
)


def _statuses(srv: ServerProcess) -> dict[str, str]:
    with sqlite3.connect(srv.root / "data" / "jobs.sqlite3") as db:
        return dict(db.execute("SELECT id, status FROM jobs").fetchall())


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_queue_full_then_sigterm_keeps_queued_jobs_for_the_next_start(
    tmp_path: Path, tiny_model_dir: Path, tiny_video: Path
) -> None:
    notify = NotifyListener(f"tiktok-analyzer-restart-{uuid.uuid4().hex}")
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, workers=1, queue_size=3, **hanging(1.5))
    try:
        srv.start({"NOTIFY_SOCKET": notify.address})
        srv.wait_ready()
        accepted: list[str] = []
        refused: list[httpx.Response] = []
        with srv.client() as client:
            for _ in range(12):
                response = post_video(client, tiny_video, frames=1, wait="false")
                if response.status_code == 503:
                    refused.append(response)
                    break
                assert response.status_code == 202, response.text
                accepted.append(response.json()["id"])
            assert refused, "the queue never filled"
            error = refused[0].json()["error"]
            assert error["code"] == "queue_full" and "queue is full" in error["message"]
            assert int(refused[0].headers["retry-after"]) >= 1
            # The refused upload is not kept: only accepted jobs have files.
            assert len(list(srv.uploads_dir.iterdir())) <= len(accepted)

            queued = [j for j in accepted if client.get(f"/jobs/{j}").json()["status"] == "queued"]
            assert queued, "expected waiting jobs"
            cancelled = client.delete(f"/jobs/{queued[-1]}")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            running = client.get(f"/jobs/{accepted[0]}").json()
            if running["status"] == "running":
                assert client.delete(f"/jobs/{accepted[0]}").status_code == 409

            srv.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            draining = wait_for(
                lambda: (h := srv.health())[0] == 503 and h[1]["status"] == "draining" and h,
                10,
                "draining",
            )
            assert draining[1]["reason"]
            refused_late = post_video(client, tiny_video, frames=1, wait="false")
            assert refused_late.status_code == 503
            assert refused_late.json()["error"]["code"] == "draining"
        assert srv.wait_exit(60) == 0  # one SIGTERM: a second one would skip the drain
        assert notify.received("STOPPING=1")
        left = _statuses(srv)
        assert "queued" in left.values(), left
        assert "running" not in left.values(), left
        if running["status"] == "running":
            assert left[accepted[0]] == "done"  # the drain let the running job finish

        srv.set(analyzer="blip2")
        srv.start()
        srv.wait_ready(all_workers=False)
        with srv.client() as client:
            finals = {j: wait_final(client, j, timeout=60)["status"] for j in accepted}
        assert finals[queued[-1]] == "cancelled"
        assert {s for j, s in finals.items() if j != queued[-1]} == {"done"}, finals
        assert list(srv.uploads_dir.iterdir()) == []
        assert srv.stop() == 0
    finally:
        srv.ensure_stopped()
        notify.close()


def test_sigkill_of_the_front_takes_workers_down_and_jobs_survive(
    tmp_path: Path, tiny_model_dir: Path, tiny_video: Path
) -> None:
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, **hanging(2))
    try:
        srv.start()
        health = srv.wait_ready()
        pids = [w["pid"] for w in health["workers"]]
        with srv.client() as client:
            jobs = [submit(client, tiny_video, frames=1) for _ in range(3)]
            wait_for(lambda: srv.health()[1]["jobs"]["running"] > 0, 20, "a running job")
        srv.stop(signal.SIGKILL, timeout=10)
        wait_for(lambda: all(_gone(p) for p in pids), 10, "workers to exit after the front died")
        assert "running" in _statuses(srv).values()

        srv.set(analyzer="blip2")
        srv.start()
        srv.wait_ready(all_workers=False)
        with srv.client() as client:
            finals = [wait_final(client, j, timeout=60) for j in jobs]
        assert [f["status"] for f in finals] == ["done"] * 3
        assert max(f["attempts"] for f in finals) >= 2  # the interrupted ones ran again
        assert srv.stop() == 0
    finally:
        srv.ensure_stopped()
