"""Worker pool supervisor in the front process: queue, dispatch, heartbeats, restarts, timeouts.

Every worker pipe is read, every timer checked and every job dispatched from
one loop, :meth:`Supervisor.poll`, which the server's main thread calls over
and over; HTTP threads only enqueue under the lock and wake that loop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.queues import Queue
from pathlib import Path
from threading import RLock
from typing import Any, Literal

from analyzers.errors import JobTimeoutError, QueueFullError, WorkerCrashedError
from api.devices import cpu_threads_per_worker
from api.jobs import Job, JobStore
from api.settings import Settings
from api.slots import (
    BACKOFF_MAX_S,
    BACKOFF_RESET_S,
    BACKOFF_START_S,
    STOP_GRACE_S,
    Slot,
    Ticket,
)
from api.worker import worker_main
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.supervisor")

LossReason = Literal["crashed", "hung", "timeout", "start_timeout", "load_failed"]


class Supervisor:
    """Owns the worker processes and every job between 'queued' and a final state."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        metrics: ServiceMetrics,
        log_queue: Queue[Any] | None,
        devices: list[str],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.log_queue = log_queue
        self.slots = [Slot(id=i, device=d) for i, d in enumerate(devices)]
        self.pending: deque[Ticket] = deque()
        self.draining = False
        self.started_at = time.time()
        self.ever_ready = False
        self._on_tick = on_tick
        self._listeners: list[Callable[[str], None]] = []
        self._lock = RLock()
        self._ctx = multiprocessing.get_context("spawn")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._job_seconds = 5.0  # running mean, for Retry-After
        self._cpu_threads = cpu_threads_per_worker(sum(1 for d in devices if d == "cpu"))

    # --- called from any thread ----------------------------------------------------
    def add_listener(self, callback: Callable[[str], None]) -> None:
        """callback(job_id) runs when a job reaches a final state (from the supervisor loop)."""
        self._listeners.append(callback)

    def submit(self, job: Job) -> None:
        """Insert the job and queue it, or raise QueueFullError: accepted means stored."""
        with self._lock:
            if len(self.pending) >= self.settings.queue_size:
                raise QueueFullError(
                    f"the queue is full ({self.settings.queue_size} videos waiting); "
                    f"retry in {self.retry_after_s()} s"
                )
            self.store.insert(job)
            self.pending.append(self._ticket(job))
            self.metrics.queue_depth.set(len(self.pending))
        self.wake()

    def queue_full(self) -> bool:
        return len(self.pending) >= self.settings.queue_size

    def cancel(self, job_id: str) -> bool:
        """Cancel a job still waiting in the queue; False if it is not waiting."""
        with self._lock:
            ticket = next((t for t in self.pending if t.id == job_id), None)
            if ticket is None:
                return False
            self.pending.remove(ticket)
            self._finish_error(ticket, "cancelled", "cancelled", "cancelled by the client")
            return True

    def release_memory(self) -> int:
        """Ask every idle worker to give back cached accelerator memory; returns how many."""
        with self._lock:
            idle = [s for s in self.slots if s.state == "READY" and not s.jobs and s.conn]
            for slot in idle:
                slot.send(("release",))
            return len(idle)

    def retry_after_s(self) -> int:
        ready = sum(1 for s in self.slots if s.loaded) or 1
        estimate = self._job_seconds * (len(self.pending) + 1) / ready
        return int(min(300, max(1, math.ceil(estimate))))

    def running_count(self) -> int:
        with self._lock:
            return sum(len(s.jobs) for s in self.slots)

    def snapshot(self) -> dict[str, Any]:
        """What /health shows about the pool."""
        now = time.monotonic()
        with self._lock:
            workers = [s.describe(now) for s in self.slots]
            model = next((s.model for s in self.slots if s.model), None)
            return {
                "workers": workers,
                "queue_depth": len(self.pending),
                "busy_workers": sum(1 for s in self.slots if s.jobs),
                "model": model,
                "draining": self.draining,
                "ever_ready": self.ever_ready,
            }

    def wake(self) -> None:
        # A full pipe already holds a wake-up; nothing is lost by dropping this one.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- the supervisor loop (server main thread) -------------------------------------
    def start(self) -> None:
        """Spawn every worker and take back the jobs a previous run left queued or running."""
        with self._lock:
            for job in self.store.recover():
                if not Path(job.upload_path).is_file():
                    self.store.finish_error(
                        job.id, "failed", "upload_missing", "the uploaded file was lost"
                    )
                    continue
                self.pending.append(self._ticket(job))
            if self.pending:
                log.info("re-queued %d job(s) from the previous run", len(self.pending))
            for slot in self.slots:
                self._spawn(slot)

    def poll(self, timeout: float) -> None:
        """One turn of the loop: read workers, check timers, dispatch."""
        with self._lock:
            waitables: list[Any] = [self._wake_r]
            for slot in self.slots:
                if slot.conn is not None:
                    waitables.append(slot.conn)
                if slot.process is not None:
                    waitables.append(slot.process.sentinel)
        wait(waitables, timeout)
        with self._lock:
            self._drain_wake()
            for slot in self.slots:
                self._read_messages(slot)
            self._check_timers()
            if not self.draining:
                self._dispatch()
            self._update_gauges()
        if self._on_tick is not None:
            self._on_tick()

    def begin_drain(self) -> None:
        with self._lock:
            self.draining = True
        self.wake()

    def shutdown(self) -> None:
        """Stop every worker; jobs still on one go back to queued for the next start."""
        with self._lock:
            for slot in self.slots:
                if slot.conn is not None:
                    slot.send(("stop",))
            deadline = time.monotonic() + STOP_GRACE_S
            for slot in self.slots:
                if slot.process is not None:
                    slot.process.join(max(0.1, deadline - time.monotonic()))
                self._read_last_messages(slot)  # a result sent just before stopping counts
                for ticket in slot.jobs:
                    self.store.requeue(ticket.id, crashed=False)
                    log.info("left queued for the next start", extra={"job_id": ticket.id})
                slot.jobs.clear()
                slot.reap()
                slot.state = "STOPPED"
            self._update_gauges()
        # The wake-up pipe stays open until exit: a late signal handler may still write to it.

    # --- internals (lock held) ---------------------------------------------------------
    def _ticket(self, job: Job) -> Ticket:
        return Ticket(
            id=job.id,
            path=job.upload_path,
            frames=job.frames,
            aspects=job.aspects,
            duration_s=job.duration_s,
            limit_s=self.settings.job_timeout_for(job.duration_s),
        )

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _spawn(self, slot: Slot) -> None:
        # Only the main thread spawns (start() and poll()): PR_SET_PDEATHSIG in the
        # worker fires when the spawning *thread* exits, not just the process.
        slot.start(
            self._ctx,
            worker_main,
            (self.settings, slot.id, slot.device),
            (self.log_queue, os.getpid(), self._cpu_threads),
        )
        log.info("worker %d started (pid %s, %s)", slot.id, slot.pid, slot.device)

    def _read_messages(self, slot: Slot) -> None:
        conn = slot.conn
        if conn is None:
            return
        try:
            while conn.poll():
                self._handle(slot, conn.recv())
        except (EOFError, OSError):
            self._lose(slot, "load_failed" if slot.state == "ERROR" else "crashed")
            return
        if slot.process is not None and not slot.process.is_alive():
            self._lose(slot, "load_failed" if slot.state == "ERROR" else "crashed")

    def _read_last_messages(self, slot: Slot) -> None:
        if slot.conn is None:
            return
        with contextlib.suppress(EOFError, OSError):
            while slot.conn.poll():
                self._handle(slot, slot.conn.recv())

    def _handle(self, slot: Slot, message: tuple[Any, ...]) -> None:  # noqa: C901
        kind, now = message[0], time.monotonic()
        slot.last_heartbeat = now
        if kind == "hb":
            slot.current_job, slot.progress = message[1]["job"], message[1]["progress"]
        elif kind == "state":
            self._on_state(slot, message[1], message[2])
        elif kind in ("begin", "prepared", "model"):
            ticket = self._ticket_on(slot, message[1])
            if ticket is None:
                return
            if kind == "begin":
                ticket.begun, ticket.deadline = True, now + ticket.limit_s
            elif kind == "prepared":
                ticket.prepare_s, ticket.deadline = float(message[2]), None
            else:
                ticket.deadline = now + max(1.0, ticket.limit_s - ticket.prepare_s)
        elif kind == "done":
            ticket = self._ticket_on(slot, message[1])
            if ticket is not None:
                self._finish_done(slot, ticket, message[2], message[3])
        elif kind == "error":
            ticket = self._ticket_on(slot, message[1])
            if ticket is not None:
                slot.jobs.remove(ticket)
                self._finish_error(ticket, "failed", message[2], message[3])
        elif kind == "released":
            log.info("worker %d released cached memory (ok=%s)", slot.id, message[1])
        if slot.loaded:
            slot.state = "BUSY" if slot.jobs else "READY"

    def _on_state(self, slot: Slot, state: str, info: dict[str, Any]) -> None:
        if state == "READY":
            slot.state, slot.ready_at, slot.model = "READY", time.monotonic(), info
            slot.last_error = None
            self.ever_ready = True
        elif state == "ERROR":
            slot.state = "ERROR"
            slot.last_error = f"{info.get('code')}: {info.get('message')}"

    def _ticket_on(self, slot: Slot, job_id: str) -> Ticket | None:
        return next((t for t in slot.jobs if t.id == job_id), None)

    def _finish_done(
        self, slot: Slot, ticket: Ticket, result: dict[str, Any], busy: dict[str, float]
    ) -> None:
        slot.jobs.remove(ticket)
        self.store.finish_done(
            ticket.id,
            result,
            model_started_at=busy.get("model_started_at"),
            model_finished_at=busy.get("model_finished_at"),
        )
        timings = result.get("timings", {})
        total = float(timings.get("total_s", 0.0))
        self.metrics.jobs.labels("done").inc()
        self.metrics.job_duration.observe(total)
        self.metrics.realtime_factor.observe(float(timings.get("realtime_factor", 0.0)))
        self._job_seconds = 0.8 * self._job_seconds + 0.2 * max(total, 0.1)
        self._forget(ticket, "done")

    def _finish_error(
        self, ticket: Ticket, status: Literal["failed", "cancelled"], code: str, message: str
    ) -> None:
        self.store.finish_error(ticket.id, status, code, message)
        self.metrics.jobs.labels(status).inc()
        if status == "failed":
            self.metrics.job_errors.labels(code).inc()
        self._forget(ticket, f"{status} ({code}: {message})")

    def _forget(self, ticket: Ticket, outcome: str) -> None:
        Path(ticket.path).unlink(missing_ok=True)
        log.info("%s", outcome, extra={"job_id": ticket.id})
        for callback in self._listeners:
            callback(ticket.id)

    def _check_timers(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None:
                if slot.restart_at is not None and now >= slot.restart_at:
                    self._spawn(slot)
                continue
            if slot.state == "STARTING":
                if now - slot.spawned_at > self.settings.worker_start_timeout_s:
                    slot.last_error = "model loading took longer than worker_start_timeout_s"
                    self._lose(slot, "start_timeout")
                continue
            if not slot.loaded:
                continue
            if slot.ready_at is not None and now - slot.ready_at > BACKOFF_RESET_S:
                slot.backoff_s = BACKOFF_START_S
            silent = now - (slot.last_heartbeat or slot.spawned_at)
            if silent > self.settings.heartbeat_timeout_s:
                slot.last_error = f"no heartbeat for {silent:.0f} s"
                self._lose(slot, "hung")
                continue
            late = next((t for t in slot.jobs if t.deadline is not None and now > t.deadline), None)
            if late is not None:
                slot.jobs.remove(late)
                self._finish_error(
                    late,
                    "failed",
                    JobTimeoutError.code,
                    JobTimeoutError(
                        f"analysis timed out after {late.limit_s:.0f} s "
                        f"(the limit for a {late.duration_s:.0f} s video)"
                    ).message,
                )
                slot.last_error = f"killed: job {late.id} timed out"
                self._lose(slot, "timeout")

    def _lose(self, slot: Slot, reason: LossReason) -> None:
        """The worker is dead or must die: kill it, settle its jobs, plan its replacement."""
        slot.reap()
        log.warning("worker %d lost (%s); replacing it", slot.id, reason)
        requeue: list[Ticket] = []
        for ticket in slot.jobs:
            crashed = ticket.begun and reason in ("crashed", "hung")
            crashes = self.store.requeue(ticket.id, crashed=crashed)
            if crashed and crashes > self.settings.job_retries:
                message = WorkerCrashedError("worker crashed while analysing this video").message
                self._finish_error(ticket, "failed", WorkerCrashedError.code, message)
                continue
            ticket.begun, ticket.deadline, ticket.prepare_s = False, None, 0.0
            ticket.avoid_worker = slot.id if crashed else None
            requeue.append(ticket)
        self.pending.extendleft(reversed(requeue))
        slot.jobs.clear()
        slot.restarts += 1
        self.metrics.worker_restarts.labels(reason).inc()
        if reason == "timeout":
            delay = 0.0  # the video was at fault, not the worker
        else:
            delay, slot.backoff_s = slot.backoff_s, min(slot.backoff_s * 2, BACKOFF_MAX_S)
        slot.restart_at = time.monotonic() + delay
        if slot.state != "ERROR":
            slot.state = "RESTARTING"
        if self.draining:
            slot.restart_at = None  # no new worker while shutting down

    def _dispatch(self) -> None:
        capacity = 2 if self.settings.prefetch else 1
        while self.pending:
            ticket = self.pending[0]
            candidates = [s for s in self.slots if s.loaded and len(s.jobs) < capacity]
            if not candidates:
                return
            # Idle workers first; a retried job prefers a worker other than the one it crashed.
            slot = min(candidates, key=lambda s: (len(s.jobs), s.id == ticket.avoid_worker, s.id))
            if not slot.send(("job", ticket.payload())):
                return
            self.pending.popleft()
            self.store.mark_running(ticket.id, slot.id, time.time())
            slot.jobs.append(ticket)
            slot.state = "BUSY"

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(len(self.pending))
        self.metrics.busy_workers.set(sum(1 for s in self.slots if s.jobs))
        self.metrics.ready_workers.set(sum(1 for s in self.slots if s.loaded))
