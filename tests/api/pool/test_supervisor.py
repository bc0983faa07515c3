"""The supervisor's state machine, turn by turn, with a scripted worker channel.

The handle below stands in only for the transport (a pipe or a Ray actor); the
supervisor, the SQLite store and the metrics are the real ones.
"""

from __future__ import annotations

import errno
import io
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from api.jobs.keyframes import KeyframeStore
from api.jobs.record import Job, Progress
from api.jobs.store import JobStore
from api.pool.handle import WorkerGone, WorkerHandle, WorkerLauncher
from api.pool.protocol import (
    Heartbeat,
    JobBegun,
    JobDone,
    JobOnModel,
    JobPrepared,
    RunJob,
    ToFront,
    ToWorker,
    WorkerFailed,
    WorkerReady,
    WorkerStarting,
)
from api.pool.supervisor import Supervisor
from api.pool.worker import Worker
from api.pool.write_behind import storage_problem
from api.settings import Settings
from monitoring.metrics import ServiceMetrics


class ScriptedHandle(WorkerHandle):
    """A worker channel the test speaks for: inbox is what the worker 'says'."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.inbox: list[ToFront] = [WorkerStarting(pid, "cpu")]
        self.sent: list[ToWorker] = []
        self.dead = False
        self.killed = False

    def send(self, message: ToWorker) -> bool:
        self.sent.append(message)
        return not self.dead

    def receive(self) -> list[ToFront]:
        messages, self.inbox = self.inbox, []
        if self.dead:
            raise WorkerGone(messages)
        return messages

    def stop(self, grace_s: float) -> list[ToFront]:
        self.kill()
        return []

    def kill(self) -> None:
        self.killed = True

    def jobs_sent(self) -> list[str]:
        return [m.job.id for m in self.sent if isinstance(m, RunJob)]


class ScriptedLauncher(WorkerLauncher):
    backend = "local"

    def __init__(self) -> None:
        self.handles: list[ScriptedHandle] = []

    def launch(self, slot_id: int, device: str) -> WorkerHandle:
        handle = ScriptedHandle(1000 + len(self.handles))
        self.handles.append(handle)
        return handle


class Pool:
    """A real supervisor over a real store, turned by hand."""

    def __init__(self, tmp: Path, workers: int = 1, **settings: object) -> None:
        self.settings = Settings(data_dir=tmp, workers=workers, **settings)  # type: ignore[arg-type]
        self.store = JobStore(self.settings.db_path, self.settings.analysis_options()).open()
        self.launcher = ScriptedLauncher()
        self.finished: list[str] = []
        self.sup = Supervisor(
            self.settings, self.store, ServiceMetrics(), self.launcher, ["cpu"] * workers
        )
        self.sup.add_listener(lambda job: self.finished.append(job.id))
        self.sup.start([])

    def turn(self) -> None:
        self.sup.poll(0)

    def say(self, worker: int, *messages: ToFront) -> None:
        self.launcher.handles[worker].inbox.extend(messages)
        self.turn()

    def job(self) -> Job:
        job = Job(
            id=uuid.uuid4().hex,
            options=self.settings.analysis_options(),
            upload=Path("/nonexistent"),
            filename=None,
            size_bytes=1,
            duration_s=2.0,
        )
        self.sup.submit(job)
        return job

    def status(self, job: Job) -> tuple[str, int]:
        stored = self.store.get(job.id)
        assert stored is not None
        return stored.status, stored.crashes


READY = WorkerReady({"name": "tiny", "quantization": "fp32", "analyzer": "blip2"})


def _done(job: Job) -> JobDone:
    return JobDone(job.id, {"timings": {"total_s": 1.0, "realtime_factor": 0.5}}, 1.0, 2.0)


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    return Pool(tmp_path, heartbeat_timeout_s=30)


def test_a_job_goes_to_a_ready_worker_and_ends_done(pool: Pool) -> None:
    job = pool.job()
    pool.turn()
    assert pool.launcher.handles[0].jobs_sent() == []  # still loading: nothing dispatched
    pool.say(0, READY)
    assert pool.launcher.handles[0].jobs_sent() == [job.id]
    assert pool.status(job) == ("running", 0)
    pool.say(0, JobBegun(job.id), JobPrepared(job.id, 0.1), JobOnModel(job.id))
    pool.say(0, Heartbeat(job.id, Progress(3, 8)))
    assert pool.sup.progress(job.id) == Progress(3, 8)
    pool.say(0, _done(job))
    assert pool.status(job) == ("done", 0)
    assert pool.finished == [job.id]
    assert pool.sup.snapshot().workers[0].state == "READY"


def test_prefetch_sends_a_second_job_but_no_third(pool: Pool) -> None:
    jobs = [pool.job() for _ in range(3)]
    pool.say(0, READY)
    assert pool.launcher.handles[0].jobs_sent() == [jobs[0].id, jobs[1].id]


def test_a_crash_is_charged_only_to_the_job_on_the_model(pool: Pool) -> None:
    on_model, waiting = pool.job(), pool.job()
    pool.say(0, READY)
    pool.say(0, JobBegun(on_model.id), JobPrepared(on_model.id, 0.1), JobOnModel(on_model.id))
    pool.say(0, JobBegun(waiting.id), JobPrepared(waiting.id, 0.1))  # decoded, waiting
    pool.launcher.handles[0].dead = True
    pool.turn()
    assert pool.status(on_model) == ("queued", 1)
    assert pool.status(waiting) == ("queued", 0)
    assert pool.launcher.handles[0].killed


def test_two_active_jobs_are_not_charged_and_then_run_alone(tmp_path: Path) -> None:
    pool = Pool(tmp_path, workers=2, job_retries=1)
    first, second = pool.job(), pool.job()
    pool.say(0, READY)
    pool.say(0, JobBegun(first.id), JobPrepared(first.id, 0.1), JobOnModel(first.id))
    pool.say(0, JobBegun(second.id))  # decoding beside the model: either may be the cause
    pool.launcher.handles[0].dead = True
    pool.turn()
    assert pool.status(first) == ("queued", 0) and pool.status(second) == ("queued", 0)
    pool.say(1, READY)
    # Worker 1 gets one suspect only; the other waits for a worker of its own.
    assert len(pool.launcher.handles[1].jobs_sent()) == 1


def test_a_poison_video_fails_after_its_retry(pool: Pool) -> None:
    job = pool.job()
    for attempt in range(2):
        pool.say(attempt, READY)
        pool.say(attempt, JobBegun(job.id))
        pool.launcher.handles[attempt].dead = True
        pool.turn()
        pool.sup.slots[0].restart_at = 0.0  # skip the back-off
        pool.turn()
    assert pool.status(job) == ("failed", 2)
    stored = pool.store.get(job.id)
    assert stored is not None and stored.error_code == "worker_crashed"


def test_a_permanent_load_failure_stops_restarts_and_says_why(pool: Pool) -> None:
    pool.say(0, WorkerFailed("model_load_failed", "permission denied: cannot read x", True))
    pool.launcher.handles[0].dead = True
    pool.turn()
    reason = pool.sup.model_unavailable()
    assert reason is not None and "permission denied" in reason
    assert pool.sup.slots[0].restart_at is None
    assert len(pool.launcher.handles) == 1


def test_a_transient_load_failure_is_retried(pool: Pool) -> None:
    pool.say(0, WorkerFailed("model_load_failed", "CUDA error: no device", False))
    pool.launcher.handles[0].dead = True
    pool.turn()
    assert pool.sup.model_unavailable() is None
    pool.sup.slots[0].restart_at = 0.0
    pool.turn()
    assert len(pool.launcher.handles) == 2


def test_a_job_past_its_deadline_fails_and_its_worker_is_replaced(tmp_path: Path) -> None:
    pool = Pool(tmp_path, job_timeout_s=0.01)
    job = pool.job()
    pool.say(0, READY)
    pool.say(0, JobBegun(job.id))
    pool.sup.slots[0].jobs[0].deadline = 0.0
    pool.turn()
    stored = pool.store.get(job.id)
    assert stored is not None and (stored.status, stored.error_code) == ("failed", "timed_out")
    assert pool.launcher.handles[0].killed
    pool.turn()
    assert len(pool.launcher.handles) == 2  # replaced at once: the video was at fault


def test_cancel_takes_a_queued_job_only(pool: Pool) -> None:
    queued = pool.job()
    assert pool.sup.cancel(queued.id)
    assert pool.status(queued) == ("cancelled", 0)
    running = pool.job()
    pool.say(0, READY)
    assert not pool.sup.cancel(running.id)


def test_shutdown_leaves_running_jobs_queued_for_the_next_start(pool: Pool) -> None:
    job = pool.job()
    pool.say(0, READY)
    pool.sup.shutdown()
    assert pool.status(job) == ("queued", 0)
    assert pool.store.recover()[0].id == job.id


def test_videos_sharing_model_calls_share_their_deadlines(tmp_path: Path) -> None:
    pool = Pool(tmp_path, job_timeout_s=60, batch_videos=2)
    first, second = pool.job(), pool.job()
    pool.say(0, READY)
    ids = (first.id, second.id)
    for job in (first, second):
        pool.say(0, JobBegun(job.id), JobPrepared(job.id, 10.0))
    pool.say(0, *(JobOnModel(job_id, ids) for job_id in ids))
    attempts = pool.sup.slots[0].jobs
    # Two videos on the model take about twice one's time: each alone has 60 - 10 s.
    assert [a.model_budget_s for a in attempts] == [100.0, 100.0]
    assert all(a.deadline is not None and a.deadline - time.monotonic() > 90 for a in attempts)
    pool.sup.slots[0].jobs[0].deadline = 0.0
    pool.turn()
    stored = pool.store.get(first.id)
    assert stored is not None and stored.error_code == "timed_out"
    assert "shared the model with 1 other video(s) for 100 s" in (stored.error_message or "")


def test_each_video_on_the_model_has_its_own_progress(tmp_path: Path) -> None:
    pool = Pool(tmp_path, batch_videos=2)
    first, second = pool.job(), pool.job()
    pool.say(0, READY)
    pool.say(0, Heartbeat(first.id, Progress(1, 2), ((second.id, Progress(3, 6)),)))
    assert pool.sup.progress(first.id) == Progress(1, 2)
    assert pool.sup.progress(second.id) == Progress(3, 6)
    pool.say(0, Heartbeat(None, None))
    assert pool.sup.progress(second.id) is None


def test_a_worker_reports_each_batched_video_by_its_share_of_the_frames() -> None:
    worker = Worker(Settings(), 0, "cpu", lambda message: None)
    worker.on_model, worker.progress = (("a", 2), ("b", 6)), Progress(4, 8)
    beat = worker.heartbeat()
    assert (beat.job_id, beat.progress) == ("a", Progress(1, 2))
    assert beat.others == (("b", Progress(3, 6)),)
    worker.progress = Progress(1, 6)  # counted one video at a time: no share is right
    assert worker.heartbeat().others == (("b", None),)
    worker.on_model = (("a", 2),)
    assert worker.heartbeat() == Heartbeat("a", Progress(1, 6))


def test_a_full_quota_is_a_full_disk_too() -> None:
    quota = storage_problem(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert quota.startswith("disk full: cannot write the job database")
    other = storage_problem(sqlite3.OperationalError("no such table: jobs"))
    assert other == "cannot write the job database: no such table: jobs"


class LockWatchingKeyframes(KeyframeStore):
    """The real keyframe store, noting whether the supervisor's lock was free at each write."""

    def __init__(self, directory: Path, sup: Supervisor) -> None:
        super().__init__(directory)
        self.sup = sup
        self.lock_free: list[bool] = []

    def keep(self, job_id: str, jpegs: tuple[bytes | None, ...], result: dict[str, Any]) -> None:
        # Another thread stands in for an HTTP request: can it take the lock now?
        took: list[bool] = []

        def try_lock() -> None:
            got = self.sup._lock.acquire(blocking=False)
            took.append(got)
            if got:
                self.sup._lock.release()

        probe = threading.Thread(target=try_lock)
        probe.start()
        probe.join()
        self.lock_free.append(took[0])
        super().keep(job_id, jpegs, result)


def test_keyframes_are_on_disk_before_done_and_written_without_the_lock(tmp_path: Path) -> None:
    pool = Pool(tmp_path)
    keyframes = LockWatchingKeyframes(tmp_path / "keyframes", pool.sup)
    pool.sup.keyframes = keyframes
    job = pool.job()
    pool.say(0, READY)
    pool.say(0, JobBegun(job.id), JobPrepared(job.id, 0.1), JobOnModel(job.id))
    jpeg = _jpeg()
    result = {"frames": [{"image": None}], "timings": {"total_s": 1.0}}
    pool.say(0, JobDone(job.id, result, 1.0, 2.0, keyframes=(jpeg,)))
    assert keyframes.lock_free == [True]
    assert pool.status(job) == ("done", 0)
    path = keyframes.path(job.id, 0)
    assert path is not None and path.read_bytes() == jpeg
    stored = pool.store.get(job.id)
    assert stored is not None and stored.result is not None
    assert stored.result["frames"][0]["image"] == f"/jobs/{job.id}/frames/0"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="JPEG")
    return out.getvalue()
