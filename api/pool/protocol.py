"""The messages between the front and a worker, as small typed records both sides import.

worker -> front:
    WorkerStarting(pid, device)           the process runs; the model is loading
    WorkerReady(model)                    the model is loaded (model: ModelInfo as JSON)
    WorkerFailed(code, message, permanent) loading failed; permanent: a restart cannot help
    Heartbeat(job_id, progress, others)   every heartbeat_interval_s, even during a model call;
                                          others: the jobs sharing job_id's model calls
    JobBegun(job_id)                      decoding started: the job's clock runs
    JobPrepared(job_id, prepare_s)        decoded; waiting for the model does not count
    JobOnModel(job_id, batch)             the model started on it: the clock runs again;
                                          batch: every job sharing these model calls
    JobDone(job_id, result, model_started_at, model_finished_at, keyframes)
    JobFailed(job_id, code, message)
    MemoryReleased(ok)
    WorkerLog(record)                     Ray actors only: a log line for the front's log file
    JobNotSent(job_id, reason)            Ray only, from the front's own handle: the job never
                                          reached the actor; it goes back to the queue, uncharged
front -> worker:
    RunJob(job), ReleaseMemory(), Stop()

Every message is picklable (pipes) and plain enough for Ray's serializer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from api.jobs.record import Job, Progress


@dataclass(frozen=True)
class WorkerStarting:
    pid: int
    device: str
    node: str | None = None


@dataclass(frozen=True)
class WorkerReady:
    model: dict[str, Any]


@dataclass(frozen=True)
class WorkerFailed:
    code: str
    message: str
    permanent: bool


@dataclass(frozen=True)
class Heartbeat:
    job_id: str | None
    progress: Progress | None
    #: the other jobs on the model with job_id (batch_videos > 1), each with its own progress
    others: tuple[tuple[str, Progress | None], ...] = ()


@dataclass(frozen=True)
class JobBegun:
    job_id: str


@dataclass(frozen=True)
class JobPrepared:
    job_id: str
    prepare_s: float


@dataclass(frozen=True)
class JobOnModel:
    job_id: str
    #: every job sharing these model calls (batch_videos > 1); empty means job_id alone
    batch: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobDone:
    job_id: str
    result: dict[str, Any]
    model_started_at: float
    model_finished_at: float
    #: one small JPEG per described frame (None where encoding failed); the front keeps them,
    #: so a worker on another machine needs no shared disk
    keyframes: tuple[bytes | None, ...] = ()
    #: the video's fingerprints (analyzers.stages.fingerprints, as JSON) for the library's
    #: similar videos; kept beside the result, not in it (opaque numbers no reader wants)
    fingerprints: dict[str, list[int]] | None = None


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    code: str
    message: str


@dataclass(frozen=True)
class MemoryReleased:
    ok: bool


@dataclass(frozen=True)
class WorkerLog:
    """A log record of a worker that has no pipe to the front's log writer (a Ray actor)."""

    record: logging.LogRecord


@dataclass(frozen=True)
class JobNotSent:
    """A job the front's handle could not hand over (the upload could not be stored in Ray)."""

    job_id: str
    reason: str


@dataclass(frozen=True)
class RunJob:
    job: Job


@dataclass(frozen=True)
class ReleaseMemory:
    pass


@dataclass(frozen=True)
class Stop:
    pass


ToFront = (
    WorkerStarting
    | WorkerReady
    | WorkerFailed
    | Heartbeat
    | JobBegun
    | JobPrepared
    | JobOnModel
    | JobDone
    | JobFailed
    | MemoryReleased
    | WorkerLog
    | JobNotSent
)
ToWorker = RunJob | ReleaseMemory | Stop
