"""What the supervisor tracks: a job on its way (Attempt) and a worker position (Slot)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from api.jobs.record import Job, Progress
from api.pool.handle import WorkerHandle
from api.pool.snapshot import WorkerSnapshot, WorkerState

#: why a worker was lost (the label of the worker-restarts metric)
LossReason = Literal["crashed", "hung", "timeout", "start_timeout", "load_failed"]

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
#: a worker READY this long has proved itself; its next crash restarts it quickly again
BACKOFF_RESET_S = 60.0
STOP_GRACE_S = 5.0


@dataclass
class Attempt:
    """A job while the supervisor holds it: waiting, decoding, or on the model."""

    job: Job
    limit_s: float
    #: the time it was given on the model: limit_s less decoding, or more when it shares
    #: the model's calls with other videos (batch_videos > 1)
    model_budget_s: float = 0.0
    #: how many videos shared its model calls
    batch_size: int = 1
    #: monotonic time it (re)entered the queue, for the queue-wait histogram
    queued_at: float = field(default_factory=time.monotonic)
    avoid_worker: int | None = None
    #: ran beside another job when a worker died: runs alone next, so a crash is its own
    suspect: bool = False
    begun: bool = False
    prepared: bool = False
    on_model: bool = False
    deadline: float | None = None  # monotonic; None while waiting for the model
    prepare_s: float = 0.0

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def active(self) -> bool:
        """Decoding or on the model: could have caused a crash of its worker."""
        return (self.begun and not self.prepared) or self.on_model

    def timeout_message(self) -> str:
        """Why the job was stopped for running past its limit, in words for the client."""
        note = ""
        if self.batch_size > 1:
            note = (
                f"; it shared the model with {self.batch_size - 1} other video(s) "
                f"for {self.model_budget_s:.0f} s in all"
            )
        return (
            f"analysis timed out after {self.limit_s:.0f} s "
            f"(the limit for a {self.job.duration_s:.0f} s video){note}"
        )

    def reset(self) -> None:
        self.queued_at = time.monotonic()
        self.begun = self.prepared = self.on_model = False
        self.deadline, self.prepare_s = None, 0.0
        self.model_budget_s, self.batch_size = 0.0, 1


@dataclass
class Slot:
    """One worker position; its worker is replaced when it dies."""

    id: int
    device: str
    handle: WorkerHandle | None = None
    state: WorkerState = "STARTING"
    jobs: list[Attempt] = field(default_factory=list)
    restarts: int = 0
    spawned_at: float = 0.0
    last_heartbeat: float | None = None
    ready_at: float | None = None
    restart_at: float | None = None
    backoff_s: float = BACKOFF_START_S
    last_error: str | None = None
    #: the last load failure cannot be fixed by a restart (configuration, files)
    permanent_error: bool = False
    current_job: str | None = None
    #: the jobs on the model as its last heartbeat said, each with its progress
    progress: dict[str, Progress | None] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    pid: int | None = None
    node: str | None = None

    @property
    def loaded(self) -> bool:
        return self.state in ("READY", "BUSY")

    def attach(self, handle: WorkerHandle) -> None:
        self.handle, self.pid, self.node = handle, handle.pid, handle.node
        self.state, self.spawned_at = "STARTING", time.monotonic()
        self.last_heartbeat, self.ready_at, self.restart_at = None, None, None
        self.current_job, self.progress = None, {}

    def detach(self) -> None:
        """Kill the worker if it still runs and forget it."""
        if self.handle is not None:
            self.handle.kill()
        self.handle, self.pid = None, None
        self.current_job, self.progress, self.ready_at = None, {}, None

    def plan_restart(self, reason: LossReason, draining: bool) -> None:
        """Set when the lost worker is replaced: after the back-off, or never."""
        if self.state == "ERROR" and self.permanent_error:
            self.restart_at = None  # a restart cannot fix it; /health says why
            return
        if reason == "timeout":
            delay = 0.0  # the video was at fault, not the worker
        else:
            delay, self.backoff_s = self.backoff_s, min(self.backoff_s * 2, BACKOFF_MAX_S)
        self.restart_at = time.monotonic() + delay
        if self.state != "ERROR":
            self.state = "RESTARTING"
        if draining:
            self.restart_at = None  # no new worker while shutting down

    def attempt(self, job_id: str) -> Attempt | None:
        return next((a for a in self.jobs if a.id == job_id), None)

    def describe(self, now: float) -> WorkerSnapshot:
        """The worker as /health shows it (plus last_error for the reason line)."""
        return WorkerSnapshot(
            id=self.id,
            state=self.state,
            device=self.device,
            pid=self.pid,
            node=self.node,
            current_job=self.current_job or (self.jobs[0].id if self.jobs else None),
            restarts=self.restarts,
            last_heartbeat_age_s=(
                round(now - self.last_heartbeat, 3) if self.last_heartbeat else None
            ),
            last_error=self.last_error,
        )
