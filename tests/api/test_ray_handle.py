"""The Ray handle hands uploads over off the supervisor's lock, on the shared real Ray cluster.

The actor below stands in for the worker only (it loads no model); the supervisor,
the store, the RayHandle and Ray itself are the real ones.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.jobs.record import Job
from api.jobs.store import JobStore
from api.pool.handle import WorkerHandle, WorkerLauncher
from api.pool.protocol import Stop, ToFront, ToWorker, WorkerReady, WorkerStarting
from api.pool.supervisor import Supervisor
from api.settings import Settings
from monitoring.metrics import ServiceMetrics
from tests.support.raycluster import LOOPBACK
from tests.support.serverproc import wait_for

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="the Ray backend is an extra: pip install '.[ray]'")


class ReceivingActor:
    """Says it is ready, then keeps what it is sent; ends on Stop."""

    def __init__(self) -> None:
        self.said: list[ToFront] = [
            WorkerStarting(os.getpid(), "cpu"),
            WorkerReady({"name": "none", "quantization": "fp32", "analyzer": "none"}),
        ]
        self.videos: dict[str, bytes] = {}
        self.stopped = False

    def run_job(self, job: Job, video: bytes) -> None:
        self.videos[job.id] = video

    def deliver(self, message: ToWorker) -> None:
        self.stopped = self.stopped or isinstance(message, Stop)

    def poll(self, wait_s: float = 0.0) -> tuple[list[ToFront], bool]:
        time.sleep(0.0 if self.said else min(wait_s, 0.1))
        said, self.said = self.said, []
        return said, self.stopped

    def received(self) -> dict[str, bytes]:
        return self.videos


class ReceivingLauncher(WorkerLauncher):
    backend = "ray"

    def __init__(self) -> None:
        self.actors: list[Any] = []

    def launch(self, slot_id: int, device: str) -> WorkerHandle:
        from api.pool.ray_backend.launcher import RayHandle

        actor = ray.remote(num_cpus=0, max_concurrency=2)(ReceivingActor).remote()
        self.actors.append(actor)
        return RayHandle(actor)


@pytest.fixture(scope="module")
def ray_driver(ray_cluster: Any) -> Iterator[None]:
    ray.init(
        address=ray_cluster.address,
        _node_ip_address=LOOPBACK,
        configure_logging=False,
        log_to_driver=False,
        namespace=f"review-mends-{uuid.uuid4().hex}",
    )
    yield
    ray.shutdown()


class Looping:
    """A supervisor over a real store, its loop turning in a thread as the server's does."""

    def __init__(self, tmp: Path) -> None:
        self.settings = Settings(data_dir=tmp, workers=1)
        self.store = JobStore(self.settings.db_path, self.settings.analysis_options()).open()
        self.launcher = ReceivingLauncher()
        self.sup = Supervisor(self.settings, self.store, ServiceMetrics(), self.launcher, ["cpu"])
        self.sup.start([])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sup.poll(0.1)

    def job(self, upload: Path) -> Job:
        job = Job(
            id=uuid.uuid4().hex,
            options=self.settings.analysis_options(),
            upload=upload,
            filename=None,
            size_bytes=1,
            duration_s=2.0,
        )
        self.sup.submit(job)
        return job

    def status(self, job: Job) -> str:
        stored = self.store.get(job.id)
        assert stored is not None
        return stored.status

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.sup.shutdown()


def _returns(call: Any, within_s: float = 60.0) -> bool:
    """Whether call() comes back at all (a guard against a hang, not a speed check)."""
    done = threading.Event()
    threading.Thread(target=lambda: (call(), done.set()), daemon=True).start()
    return done.wait(within_s)


def test_an_upload_being_read_does_not_hold_the_supervisor(
    ray_driver: None, tmp_path: Path
) -> None:
    fifo = tmp_path / "upload.fifo"
    os.mkfifo(fifo)  # reading it blocks until the test writes: a slow, huge upload
    pool = Looping(tmp_path / "data")
    try:
        wait_for(lambda: pool.sup.snapshot().workers[0].state == "READY", 60, "ready")
        job = pool.job(fifo)
        wait_for(lambda: pool.status(job) == "running", 60, "the job handed to the handle")
        # The upload is still being read, and the lock every HTTP request takes is free.
        assert _returns(pool.sup.snapshot)
        assert _returns(lambda: pool.sup.progress(job.id))
        with fifo.open("wb") as writer:
            writer.write(b"video bytes")
        actor = pool.launcher.actors[0]
        got = wait_for(lambda: ray.get(actor.received.remote()), 60, "the video at the actor")
        assert got == {job.id: b"video bytes"}
    finally:
        with contextlib.suppress(OSError):  # a reader still blocked gets end-of-file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pool.close()


def test_an_upload_that_cannot_be_read_fails_its_job_and_the_queue_moves_on(
    ray_driver: None, tmp_path: Path
) -> None:
    pool = Looping(tmp_path / "data")
    try:
        missing = pool.job(tmp_path / "gone.mp4")
        upload = tmp_path / "here.mp4"
        upload.write_bytes(b"next video")
        following = pool.job(upload)
        wait_for(lambda: pool.status(missing) == "failed", 60, "the unreadable job failed")
        stored = pool.store.get(missing.id)
        assert stored is not None and stored.error_code == "upload_missing"
        assert "the uploaded file was lost" in (stored.error_message or "")
        actor = pool.launcher.actors[0]
        got = wait_for(lambda: ray.get(actor.received.remote()), 60, "the next video")
        assert got == {following.id: b"next video"}
    finally:
        pool.close()
