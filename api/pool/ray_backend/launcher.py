"""Ray backend: connects to (or starts) Ray and places one WorkerActor per slot.

Ray Core actors under our own supervisor, not Ray Serve: the supervisor already
owns the durable queue, back-pressure (503 + Retry-After), per-job timeouts and
the rule that a crash is charged only to its cause; Serve would add a second
queue and replica restarts whose retries we could not attribute. Autoscaling
is the cluster's (KubeRay adds nodes; more workers = TIKTOK_ANALYZER_WORKERS).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import RayError

from api.pool.devices import cpu_threads_per_worker
from api.pool.handle import WorkerGone, WorkerHandle, WorkerLauncher
from api.pool.protocol import JobFailed, JobNotSent, RunJob, ToFront, ToWorker
from api.pool.ray_backend.actor import actor_class
from api.settings import Settings

log = logging.getLogger("api.pool.ray")

#: how long one poll of an actor waits for news (a heartbeat comes back at least this often)
POLL_WAIT_S = 0.5
#: object store of a private Ray (RAY_ADDRESS=local); big videos spill to disk beyond it
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024


def _host(address: str) -> str:
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


class RayHandle(WorkerHandle):
    """The supervisor's end of one actor.

    A pump thread long-polls the actor and writes a byte to a pipe whenever it has
    messages, so the supervisor's loop wakes at once, as it does for a local pipe.
    An actor that stops answering stops the heartbeats, and the supervisor's
    heartbeat timeout replaces it. A sender thread hands messages over: reading an
    upload (up to max_upload_mb) into the object store must not hold the supervisor's
    lock, which every HTTP request takes.
    """

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._inbox: queue.SimpleQueue[ToFront] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[ToWorker | None] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._gone = threading.Event()
        self._stopped = threading.Event()
        self._threads_running = 2  # pump and sender: the pipe closes after both
        self._fd_lock = threading.Lock()
        threading.Thread(
            target=self._thread, args=(self._pump_until_gone,), name="ray-poll", daemon=True
        ).start()
        threading.Thread(
            target=self._thread, args=(self._send_until_stopped,), name="ray-send", daemon=True
        ).start()

    def _thread(self, body: Callable[[], None]) -> None:
        try:
            body()
        finally:
            with self._fd_lock:
                self._threads_running -= 1
                if self._stopped.is_set() and not self._threads_running:
                    self._close_pipe()

    def _close_pipe(self) -> None:
        # Closed once the pump, the sender and the supervisor are all done with it (fd
        # numbers get reused: a late write to a closed one could land in another file).
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _pump_until_gone(self) -> None:
        while not self._stopped.is_set():
            try:
                messages, exited = ray.get(self.actor.poll.remote(POLL_WAIT_S))
            except RayError:
                exited, messages = True, []  # the actor or its node died
            for message in messages:
                self._inbox.put(message)
            if exited:
                self._gone.set()
            self._wake()
            if exited:
                return

    def _send_until_stopped(self) -> None:
        while (message := self._outbox.get()) is not None and not self._stopped.is_set():
            reply = self._hand_over(message)
            if reply is not None:
                self._inbox.put(reply)
                self._wake()

    def _hand_over(self, message: ToWorker) -> ToFront | None:
        """Give the actor one message; what the supervisor must hear if that failed."""
        if not isinstance(message, RunJob):
            with contextlib.suppress(RayError):  # an actor gone shows through the pump
                self.actor.deliver.remote(message)
            return None
        job = message.job
        try:
            data = job.upload.read_bytes()
        except OSError as exc:  # the upload is gone: no worker can ever run this job
            # the same code and words the front uses for an upload lost before its job ran
            reason = exc.strerror or str(exc)
            return JobFailed(job.id, "upload_missing", f"the uploaded file was lost: {reason}")
        try:
            self.actor.run_job.remote(job, ray.put(data))
        except (RayError, OSError) as exc:
            return JobNotSent(job.id, f"{type(exc).__name__}: {exc}")
        return None

    def send(self, message: ToWorker) -> bool:
        if self._gone.is_set() or self._stopped.is_set():
            return False
        self._outbox.put(message)  # the sender thread hands it over, off the caller's lock
        return True

    def receive(self) -> list[ToFront]:
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 512):
                pass
        messages: list[ToFront] = []
        while not self._inbox.empty():
            messages.append(self._inbox.get())
        if self._gone.is_set():
            raise WorkerGone(messages)
        return messages

    def waitables(self) -> list[Any]:
        return [self._wake_r]

    def stop(self, grace_s: float) -> list[ToFront]:
        self._gone.wait(grace_s)  # the actor ends its worker after Stop
        messages: list[ToFront] = []
        while not self._inbox.empty():
            messages.append(self._inbox.get())
        self.kill()
        return messages

    def kill(self) -> None:
        with self._fd_lock:
            self._stopped.set()
            self._outbox.put(None)
            if not self._threads_running:
                self._close_pipe()
        with contextlib.suppress(RayError):  # already gone
            ray.kill(self.actor, no_restart=True)


class RayLauncher(WorkerLauncher):
    backend = "ray"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._started_ray = settings.ray_address == "local"
        if self._started_ray:
            # A private Ray for trying it: loopback only, stopped with the service.
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                configure_logging=False,
                log_to_driver=False,  # the actors send their records to our log file
                namespace="tiktok-analyzer",
            )
        else:
            extra: dict[str, Any] = {}
            host = _host(settings.ray_address)
            if host.startswith("127."):
                # A cluster on a loopback address (tests, one box): this driver must
                # announce itself there too, not on the machine's network address.
                extra["_node_ip_address"] = host
            ray.init(
                address=settings.ray_address,
                configure_logging=False,
                log_to_driver=False,
                namespace="tiktok-analyzer",
                **extra,
            )
        self.gpus = self._gpus_per_worker()
        self.cpu_threads = cpu_threads_per_worker(settings.workers)
        log.info(
            "ray %s: %s, %g GPU(s) per worker",
            settings.ray_address,
            ray.cluster_resources(),
            self.gpus,
        )

    def _gpus_per_worker(self) -> float:
        if self.settings.gpus_per_worker >= 0:
            return self.settings.gpus_per_worker
        return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0

    def launch(self, slot_id: int, device: str) -> WorkerHandle:
        actor_device = "cuda:0" if self.gpus > 0 else "cpu"
        cls = actor_class(
            num_cpus=1,
            num_gpus=self.gpus,
            max_concurrency=4,  # poll answers while the model runs
            max_restarts=0,  # the supervisor replaces actors, charging crashes to their cause
            scheduling_strategy="SPREAD",  # one node's loss takes as few workers as it can
            name=f"tiktok-analyzer-worker-{slot_id}-{time.time_ns()}",
        )
        actor = cls.remote(self.settings, slot_id, actor_device, self.cpu_threads)
        return RayHandle(actor)

    def close(self) -> None:
        # Stops the raylet and GCS this process started (RAY_ADDRESS=local); a shared
        # cluster only loses this driver and its actors.
        ray.shutdown()
