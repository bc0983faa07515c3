"""The worker pool in the front process: queue, dispatch, heartbeats, restarts, timeouts.

Every worker channel is read, every timer checked and every job dispatched from
one loop, :meth:`Supervisor.poll`, which the server's main thread calls over
and over; HTTP threads only enqueue under the lock and wake that loop. The
workers themselves come from a launcher (local processes or Ray actors), so
both backends share this state machine and its failure semantics.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from threading import RLock
from typing import Any, Literal

from api.errors import (
    JobTimeoutError,
    QueueFullError,
    StorageFullError,
    WorkerCrashedError,
    disk_full,
)
from api.jobs.keyframes import KeyframeStore
from api.jobs.record import Job, Progress
from api.jobs.store import JobStore
from api.pool.handle import WorkerGone, WorkerLauncher
from api.pool.protocol import (
    Heartbeat,
    JobBegun,
    JobDone,
    JobFailed,
    JobNotSent,
    JobOnModel,
    JobPrepared,
    MemoryReleased,
    ReleaseMemory,
    RunJob,
    Stop,
    ToFront,
    WorkerFailed,
    WorkerLog,
    WorkerReady,
    WorkerStarting,
)
from api.pool.slots import (
    BACKOFF_MAX_S,
    BACKOFF_RESET_S,
    BACKOFF_START_S,
    STOP_GRACE_S,
    Attempt,
    Slot,
)
from api.settings import Settings
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.supervisor")

LossReason = Literal["crashed", "hung", "timeout", "start_timeout", "load_failed"]
#: how often the loop turns when no worker channel can wake it (Ray actors)
POLL_INTERVAL_S = 0.1
#: a job-store write that failed (disk full) is retried this often at most
WRITE_RETRY_MAX_S = 10.0


def storage_problem(exc: BaseException) -> str:
    """A plain-words reason for a failed job-store write."""
    if disk_full(exc):
        return f"disk full: cannot write the job database ({exc})"
    return f"cannot write the job database: {exc}"


def _shared_note(attempt: Attempt) -> str:
    if attempt.batch_size < 2:
        return ""
    others = attempt.batch_size - 1
    return (
        f"; it shared the model with {others} other video(s) "
        f"for {attempt.model_budget_s:.0f} s in all"
    )


class Supervisor:
    """Owns the workers and every job between 'queued' and a final state."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        metrics: ServiceMetrics,
        launcher: WorkerLauncher,
        devices: list[str],
        on_tick: Callable[[], None] | None = None,
        keyframes: KeyframeStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.launcher = launcher
        self.keyframes = keyframes
        self.slots = [Slot(id=i, device=d) for i, d in enumerate(devices)]
        self.pending: deque[Attempt] = deque()
        self.draining = False
        self.ever_ready = False
        self._on_tick = on_tick
        self._listeners: list[Callable[[Job], None]] = []
        self._lock = RLock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._job_seconds = 5.0  # running mean, for Retry-After
        # Store writes in order; one that fails (disk full) waits here, with those after
        # it, and is retried: memory keeps the truth until the database has it too.
        self._writes: deque[tuple[Callable[[], object], Callable[[], None] | None]] = deque()
        self._write_retry_at = 0.0
        self._write_backoff_s = 1.0
        self.storage_error: str | None = None
        self._handlers: dict[type, Callable[[Slot, Any], None]] = {
            Heartbeat: self._on_heartbeat,
            WorkerStarting: self._on_starting,
            WorkerReady: self._on_ready,
            WorkerFailed: self._on_failed,
            JobBegun: self._on_begun,
            JobPrepared: self._on_prepared,
            JobOnModel: self._on_model,
            JobDone: self._on_done,
            JobFailed: self._on_job_failed,
            MemoryReleased: self._on_released,
            WorkerLog: self._on_log,
            JobNotSent: self._on_not_sent,
        }

    # --- called from any thread ----------------------------------------------------
    @property
    def backend(self) -> str:
        return self.launcher.backend

    def add_listener(self, callback: Callable[[Job], None]) -> None:
        """callback(job) runs when a job reaches a final state (from the supervisor loop)."""
        self._listeners.append(callback)

    def submit(self, job: Job) -> None:
        """Insert the job and queue it, or raise QueueFullError: accepted means stored."""
        with self._lock:
            if self.queue_full():
                raise QueueFullError(
                    f"the queue is full ({self.settings.queue_size} videos waiting); "
                    f"retry in {self.retry_after_s()} s"
                )
            try:
                self.store.insert(job)
            except (sqlite3.Error, OSError) as exc:
                raise StorageFullError(storage_problem(exc)) from None
            self.pending.append(self._attempt(job))
            self.metrics.queue_depth.set(len(self.pending))
        self.wake()

    def queue_full(self) -> bool:
        return len(self.pending) >= self.settings.queue_size

    def cancel(self, job_id: str) -> bool:
        """Cancel a job still waiting in the queue; False if it is not waiting."""
        with self._lock:
            attempt = next((a for a in self.pending if a.id == job_id), None)
            if attempt is None:
                return False
            # The database first: if it cannot take the change, the job stays queued in both.
            try:
                self.store.finish_error(job_id, "cancelled", "cancelled", "cancelled by the client")
            except (sqlite3.Error, OSError) as exc:
                raise StorageFullError(storage_problem(exc)) from None
            self.pending.remove(attempt)
            self.metrics.jobs.labels("cancelled").inc()
            self._notify(attempt, "cancelled (cancelled by the client)")
            return True

    def release_memory(self) -> int:
        """Ask every idle worker to give back cached accelerator memory; returns how many."""
        with self._lock:
            idle = [s for s in self.slots if s.state == "READY" and not s.jobs and s.handle]
            for slot in idle:
                assert slot.handle is not None
                slot.handle.send(ReleaseMemory())
            return len(idle)

    def retry_after_s(self) -> int:
        ready = sum(1 for s in self.slots if s.loaded) or 1
        estimate = self._job_seconds * (len(self.pending) + 1) / ready
        return int(min(300, max(1, math.ceil(estimate))))

    def running_count(self) -> int:
        with self._lock:
            return sum(len(s.jobs) for s in self.slots)

    def progress(self, job_id: str) -> Progress | None:
        """Frames the model has described of a running job, as its worker last reported."""
        with self._lock:
            slot = next((s for s in self.slots if job_id in s.progress), None)
            return slot.progress[job_id] if slot is not None else None

    def queue_positions(self) -> dict[str, int]:
        """Each queued job's place in line, 1 for the next to start."""
        with self._lock:
            return {attempt.id: i for i, attempt in enumerate(self.pending, start=1)}

    def model_unavailable(self) -> str | None:
        """The reason no worker can ever become ready (a permanent load failure), else None."""
        with self._lock:
            if self.slots and all(s.permanent_error for s in self.slots):
                return self.slots[0].last_error
            return None

    def snapshot(self) -> dict[str, Any]:
        """What /health shows about the pool."""
        now = time.monotonic()
        with self._lock:
            return {
                "workers": [s.describe(now) for s in self.slots],
                "queue_depth": len(self.pending),
                "busy_workers": sum(1 for s in self.slots if s.jobs),
                "model": next((s.model for s in self.slots if s.model), None),
                "draining": self.draining,
                "ever_ready": self.ever_ready,
                "backend": self.backend,
            }

    def wake(self) -> None:
        # A full pipe already holds a wake-up; nothing is lost by dropping this one.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- the supervisor loop (server main thread) -------------------------------------
    def start(self, recovered: list[Job]) -> None:
        """Queue the jobs a previous run left behind, then start every worker."""
        with self._lock:
            self.pending.extend(self._attempt(job) for job in recovered)
            if self.pending:
                log.info("re-queued %d job(s) from the previous run", len(self.pending))
            for slot in self.slots:
                self._launch(slot)

    def poll(self, timeout: float) -> None:
        """One turn of the loop: read workers, check timers, dispatch."""
        with self._lock:
            waitables: list[Any] = [self._wake_r]
            timer_only = False
            for slot in self.slots:
                if slot.handle is not None:
                    found = slot.handle.waitables()
                    timer_only = timer_only or not found
                    waitables.extend(found)
        wait(waitables, min(timeout, POLL_INTERVAL_S) if timer_only else timeout)
        with self._lock:
            self._drain_wake()
            for slot in self.slots:
                self._read_messages(slot)
            self._check_timers()
            self._flush_writes()
            if not self.draining and not self._writes:
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
                if slot.handle is not None:
                    slot.handle.send(Stop())
            deadline = time.monotonic() + STOP_GRACE_S
            for slot in self.slots:
                if slot.handle is not None:
                    # A result sent just before stopping counts.
                    last = slot.handle.stop(max(0.1, deadline - time.monotonic()))
                    for message in last:
                        self._handle(slot, message)
                    slot.handle = None
                for attempt in slot.jobs:
                    # If this write fails too, the next start finds the job 'running' and
                    # queues it again: nothing is lost either way.
                    self._persist(functools.partial(self.store.requeue, attempt.id, crashed=False))
                    log.info("left queued for the next start", extra={"job_id": attempt.id})
                slot.jobs.clear()
                slot.detach()
                slot.state = "STOPPED"
            self._update_gauges()
            self.launcher.close()
        # The wake-up pipe stays open until exit: a late signal handler may still write to it.

    # --- internals (lock held) ---------------------------------------------------------
    def _attempt(self, job: Job) -> Attempt:
        return Attempt(job=job, limit_s=self.settings.job_timeout_for(job.duration_s))

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _launch(self, slot: Slot) -> None:
        try:
            slot.attach(self.launcher.launch(slot.id, slot.device))
        except Exception as exc:  # e.g. a Ray node gone: try again after the back-off
            slot.last_error = f"could not start a worker: {type(exc).__name__}: {exc}"
            log.error("worker %d: %s", slot.id, slot.last_error)
            self._plan_restart(slot, "crashed")
            return
        log.info("worker %d started (pid %s, %s)", slot.id, slot.pid, slot.device)

    def _read_messages(self, slot: Slot) -> None:
        if slot.handle is None:
            return
        try:
            messages = slot.handle.receive()
        except WorkerGone as gone:
            for message in gone.last:
                self._handle(slot, message)
            self._lose(slot, "load_failed" if slot.state == "ERROR" else "crashed")
            return
        for message in messages:
            self._handle(slot, message)

    def _handle(self, slot: Slot, message: ToFront) -> None:
        slot.last_heartbeat = time.monotonic()
        self._handlers[type(message)](slot, message)
        if slot.loaded:
            slot.state = "BUSY" if slot.jobs else "READY"

    def _on_heartbeat(self, slot: Slot, message: Heartbeat) -> None:
        slot.current_job = message.job_id
        slot.progress = dict(message.others)
        if message.job_id is not None:
            slot.progress[message.job_id] = message.progress

    def _on_starting(self, slot: Slot, message: WorkerStarting) -> None:
        slot.pid, slot.node = message.pid, message.node or slot.node

    def _on_ready(self, slot: Slot, message: WorkerReady) -> None:
        slot.state, slot.ready_at, slot.model = "READY", time.monotonic(), message.model
        slot.last_error, slot.permanent_error = None, False
        self.ever_ready = True

    def _on_failed(self, slot: Slot, message: WorkerFailed) -> None:
        slot.state = "ERROR"
        slot.last_error = f"{message.code}: {message.message}"
        slot.permanent_error = message.permanent

    def _on_begun(self, slot: Slot, message: JobBegun) -> None:
        attempt = slot.attempt(message.job_id)
        if attempt is not None:
            attempt.begun, attempt.deadline = True, time.monotonic() + attempt.limit_s

    def _on_prepared(self, slot: Slot, message: JobPrepared) -> None:
        attempt = slot.attempt(message.job_id)
        if attempt is not None:
            attempt.prepared, attempt.prepare_s, attempt.deadline = True, message.prepare_s, None

    def _on_model(self, slot: Slot, message: JobOnModel) -> None:
        attempt = slot.attempt(message.job_id)
        if attempt is None:
            return
        attempt.on_model = True
        # Videos sharing model calls take about as long as one after the other: the batch
        # has the sum of their times, so it never times out where each alone would not.
        shared = [slot.attempt(job_id) for job_id in message.batch or (message.job_id,)]
        budgets = [max(1.0, a.limit_s - a.prepare_s) for a in shared if a is not None]
        attempt.model_budget_s = sum(budgets) or max(1.0, attempt.limit_s - attempt.prepare_s)
        attempt.batch_size = max(1, len(budgets))
        attempt.deadline = time.monotonic() + attempt.model_budget_s

    def _on_done(self, slot: Slot, message: JobDone) -> None:
        attempt = slot.attempt(message.job_id)
        if attempt is None:
            return
        slot.jobs.remove(attempt)
        if self.keyframes is not None:
            self.keyframes.keep(attempt.id, message.keyframes, message.result)
        self._persist(
            lambda: self.store.finish_done(
                attempt.id,
                message.result,
                model_started_at=message.model_started_at,
                model_finished_at=message.model_finished_at,
            ),
            lambda: self._notify(attempt, "done"),
        )
        timings = message.result.get("timings", {})
        total = float(timings.get("total_s", 0.0))
        self.metrics.jobs.labels("done").inc()
        self.metrics.job_duration.observe(total)
        self.metrics.realtime_factor.observe(float(timings.get("realtime_factor", 0.0)))
        self._job_seconds = 0.8 * self._job_seconds + 0.2 * max(total, 0.1)

    def _on_job_failed(self, slot: Slot, message: JobFailed) -> None:
        attempt = slot.attempt(message.job_id)
        if attempt is not None:
            slot.jobs.remove(attempt)
            self._finish_error(attempt, "failed", message.code, message.message)

    def _on_released(self, slot: Slot, message: MemoryReleased) -> None:
        log.info("worker %d released cached memory (ok=%s)", slot.id, message.ok)

    def _on_log(self, slot: Slot, message: WorkerLog) -> None:
        logging.getLogger(message.record.name).handle(message.record)

    def _on_not_sent(self, slot: Slot, message: JobNotSent) -> None:
        # As if it had never left the queue: back at its head, not charged to anyone.
        attempt = slot.attempt(message.job_id)
        if attempt is None:
            return
        log.warning(
            "not handed to worker %d (%s); queued again",
            slot.id,
            message.reason,
            extra={"job_id": attempt.id},
        )
        slot.jobs.remove(attempt)
        self._persist(functools.partial(self.store.requeue, attempt.id, crashed=False))
        self.pending.appendleft(attempt)

    def _finish_error(
        self, attempt: Attempt, status: Literal["failed", "cancelled"], code: str, message: str
    ) -> None:
        self._persist(
            lambda: self.store.finish_error(attempt.id, status, code, message),
            lambda: self._notify(attempt, f"{status} ({code}: {message})"),
        )
        self.metrics.jobs.labels(status).inc()
        if status == "failed":
            self.metrics.job_errors.labels(code).inc()

    def _notify(self, attempt: Attempt, outcome: str) -> None:
        log.info("%s", outcome, extra={"job_id": attempt.id})
        for callback in self._listeners:
            callback(attempt.job)

    def _check_timers(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.handle is None:
                if slot.restart_at is not None and now >= slot.restart_at:
                    self._launch(slot)
                continue
            if slot.state == "STARTING":
                if now - slot.spawned_at > self.settings.worker_start_timeout_s:
                    slot.last_error = "model loading took longer than worker_start_timeout_s"
                    self._lose(slot, "start_timeout")
                continue
            if slot.loaded:
                self._check_loaded(slot, now)

    def _check_loaded(self, slot: Slot, now: float) -> None:
        if slot.ready_at is not None and now - slot.ready_at > BACKOFF_RESET_S:
            slot.backoff_s = BACKOFF_START_S
        silent = now - (slot.last_heartbeat or slot.spawned_at)
        if silent > self.settings.heartbeat_timeout_s:
            slot.last_error = f"no heartbeat for {silent:.0f} s"
            self._lose(slot, "hung")
            return
        late = next((a for a in slot.jobs if a.deadline is not None and now > a.deadline), None)
        if late is None:
            return
        slot.jobs.remove(late)
        message = JobTimeoutError(
            f"analysis timed out after {late.limit_s:.0f} s "
            f"(the limit for a {late.job.duration_s:.0f} s video)" + _shared_note(late)
        ).message
        self._finish_error(late, "failed", JobTimeoutError.code, message)
        slot.last_error = f"killed: job {late.id} timed out"
        self._lose(slot, "timeout")

    def _lose(self, slot: Slot, reason: LossReason) -> None:
        """The worker is dead or must die: kill it, settle its jobs, plan its replacement."""
        slot.detach()
        log.warning("worker %d lost (%s); replacing it", slot.id, reason)
        self._settle_jobs(slot, reason)
        slot.restarts += 1
        self.metrics.worker_restarts.labels(reason).inc()
        self._plan_restart(slot, reason)

    def _settle_jobs(self, slot: Slot, reason: LossReason) -> None:
        """A crash is charged only to its cause: the one job that was active, if only one was."""
        active = [a for a in slot.jobs if a.active] if reason in ("crashed", "hung") else []
        culprit = active[0] if len(active) == 1 else None
        requeue: list[Attempt] = []
        for attempt in slot.jobs:
            if attempt is culprit:
                attempt.job.crashes += 1
                self._persist(functools.partial(self.store.requeue, attempt.id, crashed=True))
                if attempt.job.crashes > self.settings.job_retries:
                    message = WorkerCrashedError("worker crashed while analysing this video")
                    self._finish_error(attempt, "failed", message.code, message.message)
                    continue
                attempt.avoid_worker = slot.id
            else:
                self._persist(functools.partial(self.store.requeue, attempt.id, crashed=False))
                # Two jobs were active: neither is charged, each runs alone next time.
                attempt.suspect = attempt.suspect or attempt in active
            attempt.reset()
            requeue.append(attempt)
        self.pending.extendleft(reversed(requeue))
        slot.jobs.clear()

    def _plan_restart(self, slot: Slot, reason: LossReason) -> None:
        if slot.state == "ERROR" and slot.permanent_error:
            slot.restart_at = None  # a restart cannot fix it; /health says why
            return
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
        # On the model, plus those decoded ahead (which may share its calls).
        capacity = 1 + self.settings.batch_videos if self.settings.prefetch else 1
        while self.pending:
            attempt = self.pending[0]
            slot = self._choose_slot(attempt, capacity)
            if slot is None or slot.handle is None:
                return
            if not slot.handle.send(RunJob(attempt.job)):
                return
            self.pending.popleft()
            self.metrics.queue_wait.observe(time.monotonic() - attempt.queued_at)
            self._persist(
                functools.partial(self.store.mark_running, attempt.id, slot.id, time.time())
            )
            slot.jobs.append(attempt)
            slot.state = "BUSY"

    def _choose_slot(self, attempt: Attempt, capacity: int) -> Slot | None:
        # A suspect runs alone, and nothing joins a worker that holds one.
        room = 1 if attempt.suspect else capacity
        candidates = [
            s
            for s in self.slots
            if s.loaded and len(s.jobs) < room and not any(a.suspect for a in s.jobs)
        ]
        if not candidates:
            return None
        # Idle workers first; a retried job prefers a worker other than the one it crashed.
        return min(candidates, key=lambda s: (len(s.jobs), s.id == attempt.avoid_worker, s.id))

    def _persist(self, write: Callable[[], object], then: Callable[[], None] | None = None) -> None:
        """Write to the job store now, or keep the write (in order) until the disk allows it."""
        self._writes.append((write, then))
        self._flush_writes(force=True)

    def _flush_writes(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if (
            not self._writes
            or (now < self._write_retry_at and not force)
            or (force and len(self._writes) > 1)
        ):
            return
        while self._writes:
            write, then = self._writes[0]
            try:
                write()
            except (sqlite3.Error, OSError) as exc:
                if self.storage_error is None:
                    log.error("%s; keeping the changes in memory", storage_problem(exc))
                self.storage_error = storage_problem(exc)
                self._write_retry_at = now + self._write_backoff_s
                self._write_backoff_s = min(self._write_backoff_s * 2, WRITE_RETRY_MAX_S)
                return
            self._writes.popleft()
            if then is not None:
                then()
        if self.storage_error is not None:
            log.info("the job database takes writes again")
        self.storage_error, self._write_backoff_s = None, 1.0

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(len(self.pending))
        self.metrics.busy_workers.set(sum(1 for s in self.slots if s.jobs))
        self.metrics.ready_workers.set(sum(1 for s in self.slots if s.loaded))
