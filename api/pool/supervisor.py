"""The worker pool in the front process: queue, dispatch, heartbeats, restarts, timeouts.

Every worker channel is read, every timer checked and every job dispatched from
one loop, :meth:`Supervisor.poll`, which the server's main thread calls over
and over; HTTP threads only enqueue under the lock and wake that loop. The
workers themselves come from a launcher (local processes or Ray actors), so
both backends share this state machine and its failure semantics.

Beside it: ``write_behind`` (in-order store writes), ``crashes`` (what a crash costs
its jobs), ``slot_updates`` (messages about a worker), ``inbox`` (reads, keyframes).
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
    DrainingError,
    JobCancelledError,
    JobTimeoutError,
    ModelUnavailableError,
    QueueFullError,
    StorageFullError,
    WorkerCrashedError,
)
from api.jobs.keyframes import KeyframeStore
from api.jobs.record import Job, Progress
from api.jobs.store import JobStore
from api.pool.crashes import settle
from api.pool.handle import WorkerLauncher
from api.pool.inbox import Received, receive, store_keyframes
from api.pool.protocol import JobDone, JobFailed, JobNotSent, ReleaseMemory, RunJob, Stop, ToFront
from api.pool.slot_updates import SLOT_UPDATES
from api.pool.slots import BACKOFF_RESET_S, BACKOFF_START_S, STOP_GRACE_S, Attempt, LossReason, Slot
from api.pool.snapshot import PoolSnapshot
from api.pool.write_behind import WriteBehind, storage_problem
from api.settings import Settings
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.supervisor")

#: how often the loop turns when no worker channel can wake it (Ray actors)
POLL_INTERVAL_S = 0.1


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
        self.writes = WriteBehind()
        self._on_tick = on_tick
        self._listeners: list[Callable[[Job], None]] = []
        self._lock = RLock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._job_seconds = 5.0  # running mean, for Retry-After
        self._job_ends: dict[type, Callable[[Slot, Any], None]] = {
            JobDone: self._on_done,
            JobFailed: self._on_job_failed,
            JobNotSent: self._on_not_sent,
        }

    # --- called from any thread ----------------------------------------------------
    def add_listener(self, callback: Callable[[Job], None]) -> None:
        """callback(job) runs when a job reaches a final state (from the supervisor loop)."""
        self._listeners.append(callback)

    def check_admission(self, *, queue_only: bool = False) -> None:
        """Raise the reason a new job would be refused now: draining, no model, a full queue."""
        with self._lock:
            if not queue_only and self.draining:
                raise DrainingError("the service is shutting down; retry in a few seconds")
            reason = None if queue_only else self.model_unavailable()
            if reason is not None:
                raise ModelUnavailableError(f"no worker can load the model: {reason}")
            if len(self.pending) >= self.settings.queue_size:
                raise QueueFullError(self.settings.queue_size, self.retry_after_s())

    def submit(self, job: Job) -> None:
        """Insert the job and queue it, or raise QueueFullError: accepted means stored."""
        with self._lock:
            self.check_admission(queue_only=True)
            try:
                self.store.insert(job)
            except (sqlite3.Error, OSError) as exc:
                raise StorageFullError(storage_problem(exc)) from None
            self.pending.append(Attempt(job, self.settings.job_timeout_for(job.duration_s)))
            self.metrics.queue_depth.set(len(self.pending))
        self.wake()

    def cancel(self, job_id: str) -> bool:
        """Cancel a job still waiting in the queue; False if it is not waiting."""
        with self._lock:
            attempt = next((a for a in self.pending if a.id == job_id), None)
            if attempt is None:
                return False
            # The database first: if it cannot take the change, the job stays queued in both.
            code = JobCancelledError.code
            try:
                self.store.finish_error(job_id, "cancelled", code, "cancelled by the client")
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

    def model_unavailable(self) -> str | None:
        """The reason no worker can ever become ready (a permanent load failure), else None."""
        with self._lock:
            if self.slots and all(s.permanent_error for s in self.slots):
                return self.slots[0].last_error
            return None

    def snapshot(self) -> PoolSnapshot:
        """The pool as /health and the web page's board show it, read under one lock."""
        now = time.monotonic()
        with self._lock:
            return PoolSnapshot(
                workers=tuple(s.describe(now) for s in self.slots),
                queue_depth=len(self.pending),
                queued=tuple(attempt.id for attempt in self.pending),
                busy_workers=sum(1 for s in self.slots if s.jobs),
                model=next((s.model for s in self.slots if s.model), None),
                draining=self.draining,
                ever_ready=self.ever_ready,
                backend=self.launcher.backend,
                storage_error=self.writes.storage_error,
                model_unavailable=self.model_unavailable(),
            )

    def wake(self) -> None:
        # A full pipe already holds a wake-up; nothing is lost by dropping this one.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- the supervisor loop (server main thread) -------------------------------------
    def start(self, recovered: list[Job]) -> None:
        """Queue the jobs a previous run left behind, then start every worker."""
        with self._lock:
            self.pending.extend(
                Attempt(job, self.settings.job_timeout_for(job.duration_s)) for job in recovered
            )
            if self.pending:
                log.info("re-queued %d job(s) from the previous run", len(self.pending))
            for slot in self.slots:
                self._launch(slot)

    def poll(self, timeout: float) -> None:
        """One turn of the loop: read workers, write keyframes, check timers, dispatch."""
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
            _drain_pipe(self._wake_r)
            inbox = [receive(slot) for slot in self.slots]
        store_keyframes(self.keyframes, inbox)  # file I/O: HTTP requests are not held up
        with self._lock:
            for received in inbox:
                self._deliver(received)
            self._check_timers()
            self.writes.flush()
            if not self.draining and not self.writes.waiting:
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
            running = [s for s in self.slots if s.handle is not None]
            for slot in running:
                assert slot.handle is not None
                slot.handle.send(Stop())
            deadline = time.monotonic() + STOP_GRACE_S
            inbox = []
            for slot in running:
                assert slot.handle is not None
                # A result sent just before stopping counts.
                inbox.append(
                    Received(slot, slot.handle.stop(max(0.1, deadline - time.monotonic())))
                )
                slot.handle = None
        store_keyframes(self.keyframes, inbox)
        with self._lock:
            for received in inbox:
                self._deliver(received)
            for slot in self.slots:
                for attempt in slot.jobs:
                    # If this write fails too, the next start finds the job 'running' and
                    # queues it again: nothing is lost either way.
                    self.writes.persist(
                        functools.partial(self.store.requeue, attempt.id, crashed=False)
                    )
                    log.info("left queued for the next start", extra={"job_id": attempt.id})
                slot.jobs.clear()
                slot.detach()
                slot.state = "STOPPED"
            self._update_gauges()
            self.launcher.close()
        # The wake-up pipe stays open until exit: a late signal handler may still write to it.

    # --- internals (lock held) ---------------------------------------------------------
    def _launch(self, slot: Slot) -> None:
        try:
            slot.attach(self.launcher.launch(slot.id, slot.device))
        except Exception as exc:  # e.g. a Ray node gone: try again after the back-off
            slot.last_error = f"could not start a worker: {type(exc).__name__}: {exc}"
            log.error("worker %d: %s", slot.id, slot.last_error)
            slot.plan_restart("crashed", self.draining)
            return
        log.info("worker %d started (pid %s, %s)", slot.id, slot.pid, slot.device)

    def _deliver(self, received: Received) -> None:
        """Apply a worker's messages in order; then, if its channel closed, replace it."""
        slot = received.slot
        for message in received.messages:
            self._handle(slot, message)
        if received.gone:
            self._lose(slot, "load_failed" if slot.state == "ERROR" else "crashed")

    def _handle(self, slot: Slot, message: ToFront) -> None:
        slot.last_heartbeat = time.monotonic()
        update = SLOT_UPDATES.get(type(message)) or self._job_ends[type(message)]
        update(slot, message)
        if slot.loaded:
            slot.state = "BUSY" if slot.jobs else "READY"
            self.ever_ready = True

    def _on_done(self, slot: Slot, message: JobDone) -> None:
        # Its keyframes are already on disk (inbox.store_keyframes ran before this).
        attempt = slot.attempt(message.job_id)
        if attempt is None:
            return
        slot.jobs.remove(attempt)
        self.writes.persist(
            lambda: self.store.finish_done(
                attempt.id,
                message.result,
                model_started_at=message.model_started_at,
                model_finished_at=message.model_finished_at,
                fingerprints=message.fingerprints,
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
        self.writes.persist(functools.partial(self.store.requeue, attempt.id, crashed=False))
        self.pending.appendleft(attempt)

    def _finish_error(
        self, attempt: Attempt, status: Literal["failed", "cancelled"], code: str, message: str
    ) -> None:
        self.writes.persist(
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
        self._finish_error(late, "failed", JobTimeoutError.code, late.timeout_message())
        slot.last_error = f"killed: job {late.id} timed out"
        self._lose(slot, "timeout")

    def _lose(self, slot: Slot, reason: LossReason) -> None:
        """The worker is dead or must die: kill it, settle its jobs, plan its replacement."""
        slot.detach()
        log.warning("worker %d lost (%s); replacing it", slot.id, reason)
        requeue: list[Attempt] = []
        for settled in settle(slot.jobs, reason, self.settings.job_retries, slot.id):
            attempt = settled.attempt
            self.writes.persist(
                functools.partial(self.store.requeue, attempt.id, crashed=settled.charged)
            )
            if settled.give_up:
                error = WorkerCrashedError("worker crashed while analysing this video")
                self._finish_error(attempt, "failed", error.code, error.message)
            else:
                requeue.append(attempt)
        self.pending.extendleft(reversed(requeue))
        slot.jobs.clear()
        slot.restarts += 1
        self.metrics.worker_restarts.labels(reason).inc()
        slot.plan_restart(reason, self.draining)

    def _dispatch(self) -> None:
        # On the model, plus those decoded ahead (which may share its calls).
        capacity = 1 + self.settings.batch_videos if self.settings.prefetch else 1
        while self.pending:
            attempt = self.pending[0]
            slot = _choose_slot(self.slots, attempt, capacity)
            if slot is None or slot.handle is None:
                return
            if not slot.handle.send(RunJob(attempt.job)):
                return
            self.pending.popleft()
            self.metrics.queue_wait.observe(time.monotonic() - attempt.queued_at)
            self.writes.persist(
                functools.partial(self.store.mark_running, attempt.id, slot.id, time.time())
            )
            slot.jobs.append(attempt)
            slot.state = "BUSY"

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(len(self.pending))
        self.metrics.busy_workers.set(sum(1 for s in self.slots if s.jobs))
        self.metrics.ready_workers.set(sum(1 for s in self.slots if s.loaded))


def _choose_slot(slots: list[Slot], attempt: Attempt, capacity: int) -> Slot | None:
    # A suspect runs alone, and nothing joins a worker that holds one.
    room = 1 if attempt.suspect else capacity
    candidates = [
        s for s in slots if s.loaded and len(s.jobs) < room and not any(a.suspect for a in s.jobs)
    ]
    if not candidates:
        return None
    # Idle workers first; a retried job prefers a worker other than the one it crashed.
    return min(candidates, key=lambda s: (len(s.jobs), s.id == attempt.avoid_worker, s.id))


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
