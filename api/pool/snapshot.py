"""What the pool looks like at one moment, as typed records: ``/health`` and the board read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: the one list of worker states (the HTTP schema shows it as is)
WorkerState = Literal["STARTING", "READY", "BUSY", "ERROR", "RESTARTING", "STOPPED"]


@dataclass(frozen=True)
class WorkerSnapshot:
    """One worker as ``/health`` shows it, plus ``last_error`` for the reason line."""

    id: int
    state: WorkerState
    device: str
    pid: int | None
    node: str | None
    current_job: str | None
    restarts: int
    last_heartbeat_age_s: float | None
    last_error: str | None

    @property
    def loaded(self) -> bool:
        return self.state in ("READY", "BUSY")


@dataclass(frozen=True)
class PoolSnapshot:
    """The workers, the queue and the pool's troubles, read under one lock."""

    workers: tuple[WorkerSnapshot, ...]
    queue_depth: int
    #: the queued jobs' ids, the next to start first
    queued: tuple[str, ...]
    busy_workers: int
    #: the model as the first loaded worker reported it (name, quantization ...), if any
    model: dict[str, Any] | None
    draining: bool
    ever_ready: bool
    backend: str
    #: why job-store writes are held back (disk full), if they are
    storage_error: str | None
    #: why no worker can ever load the model, if none can
    model_unavailable: str | None

    def queue_position(self, job_id: str) -> int | None:
        """The job's place in line, 1 for the next to start; None when it is not queued."""
        return self.queued.index(job_id) + 1 if job_id in self.queued else None
