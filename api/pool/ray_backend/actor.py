"""The worker as a Ray actor: the same Worker as the local backend, polled instead of piped.

The actor is threaded (max_concurrency > 1): the Worker runs the model in its own
thread, so ``poll`` answers while a long model call runs, and a poll that stops
answering means the actor's process is frozen (the supervisor's heartbeat timeout).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
from collections import deque
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, cast

from api.jobs.record import Job
from api.logging_setup import setup_worker_logging
from api.pool.local.process import select_device
from api.pool.protocol import JobDone, JobFailed, ToFront, ToWorker, WorkerLog
from api.pool.worker import Worker
from api.settings import Settings


class Outbox:
    """Messages for the front; a poll waits on it until there is something to say.

    It is the actor's log queue too (see put_nowait), so the front writes the one log file.
    """

    def __init__(self, worker_name: str = "") -> None:
        self._items: deque[ToFront] = deque()
        self._ready = threading.Condition()
        self.worker_name = worker_name

    def append(self, message: ToFront) -> None:
        with self._ready:
            self._items.append(message)
            self._ready.notify_all()

    def put_nowait(self, record: logging.LogRecord) -> None:
        """What a QueueHandler calls with a record it made plain (so it pickles)."""
        record.processName = self.worker_name or record.processName
        self.append(WorkerLog(record))

    def drain(self, wait_s: float) -> list[ToFront]:
        with self._ready:
            if not self._items:
                self._ready.wait(wait_s)
            items = list(self._items)
            self._items.clear()
        return items


def spool_folder(root: Path | None = None) -> Path:
    """This actor's folder for the videos it is sent, under one root per node and user.

    ray.kill gives an actor no time to clean up, so each new actor removes the folders of
    actors whose process is gone: what is left behind is bounded by the live actors.
    """
    root = root or Path(tempfile.gettempdir()) / f"tiktok-analyzer-ray-spool-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and not _process_alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)  # left by a dead actor that had this pid
    mine.mkdir()
    return mine


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class WorkerActor:
    """Holds one analyzer, loaded once; wrapped with ray.remote by the launcher."""

    def __init__(self, settings: Settings, worker_id: int, device: str, cpu_threads: int) -> None:
        import ray

        self._outbox = Outbox(f"worker-{worker_id}")
        self._spool = spool_folder()
        self._videos: dict[str, Path] = {}
        self.exit_code: int | None = None
        # QueueHandler needs only put_nowait of its queue.
        setup_worker_logging(cast("Queue[Any]", self._outbox), settings.log_level)
        node = ray.get_runtime_context().get_node_id()
        device = select_device(device, cpu_threads)
        self.worker = Worker(settings, worker_id, device, self._send)
        # Loading takes seconds to minutes: the constructor returns at once, polls report it.
        threading.Thread(target=self._run, args=(node,), name="worker", daemon=True).start()

    def _run(self, node: str) -> None:
        self.exit_code = self.worker.run(node=node)

    def _send(self, message: ToFront) -> None:
        if isinstance(message, (JobDone, JobFailed)):
            path = self._videos.pop(message.job_id, None)
            if path is not None:
                path.unlink(missing_ok=True)
        self._outbox.append(message)

    def run_job(self, job: Job, video: bytes) -> None:
        """The video arrives through the object store: this node may not see the front's disk."""
        path = self._spool / job.id
        path.write_bytes(video)
        self._videos[job.id] = path
        self.worker.deliver_job(dataclasses.replace(job, upload=path))

    def deliver(self, message: ToWorker) -> None:
        self.worker.deliver(message)

    def poll(self, wait_s: float = 0.0) -> tuple[list[ToFront], bool]:
        """What the worker said since the last poll (waiting up to wait_s for something), a
        fresh heartbeat, and whether the worker has ended."""
        exited = self.exit_code is not None
        messages = self._outbox.drain(0.0 if exited else wait_s)
        messages.append(self.worker.heartbeat())
        return messages, self.exit_code is not None

    def pid(self) -> int:
        return os.getpid()


def actor_class(**options: Any) -> Any:
    """WorkerActor as a Ray actor class with the given placement options."""
    import ray

    return ray.remote(**options)(WorkerActor)
