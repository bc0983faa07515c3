"""What the supervisor tracks: a job on its way (Ticket) and a worker position (Slot)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Literal

WorkerState = Literal["STARTING", "READY", "BUSY", "ERROR", "RESTARTING", "STOPPED"]

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
#: a worker READY this long has proved itself; its next crash restarts it quickly again
BACKOFF_RESET_S = 60.0
STOP_GRACE_S = 5.0


@dataclass
class Ticket:
    """A job while the supervisor holds it: waiting, or on a worker."""

    id: str
    path: str
    frames: int
    aspects: tuple[str, ...]
    duration_s: float
    limit_s: float
    avoid_worker: int | None = None
    begun: bool = False
    deadline: float | None = None  # monotonic; None while not decoding nor on the model
    prepare_s: float = 0.0

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "frames": self.frames, "aspects": self.aspects}


@dataclass
class Slot:
    """One worker position; its process is replaced when it dies."""

    id: int
    device: str
    process: BaseProcess | None = None
    conn: Connection | None = None
    state: WorkerState = "STARTING"
    pid: int | None = None
    jobs: list[Ticket] = field(default_factory=list)
    restarts: int = 0
    spawned_at: float = 0.0
    last_heartbeat: float | None = None
    ready_at: float | None = None
    restart_at: float | None = None
    backoff_s: float = BACKOFF_START_S
    last_error: str | None = None
    current_job: str | None = None
    progress: list[int] | None = None
    model: dict[str, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self.state in ("READY", "BUSY")

    def start(
        self,
        ctx: SpawnContext,
        target: Callable[..., None],
        head: tuple[Any, ...],
        tail: tuple[Any, ...],
    ) -> None:
        """Spawn target(*head, child_conn, *tail) as this slot's worker."""
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=target, args=(*head, child_conn, *tail), name=f"worker-{self.id}"
        )
        process.start()
        child_conn.close()  # only the child holds its end: its death shows as EOF here
        self.process, self.conn, self.pid = process, parent_conn, process.pid
        self.state, self.spawned_at = "STARTING", time.monotonic()
        self.last_heartbeat, self.ready_at, self.restart_at = None, None, None
        self.current_job, self.progress = None, None

    def send(self, message: tuple[Any, ...]) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.send(message)
            return True
        except (OSError, ValueError):
            return False  # it died; the sentinel reports it on this turn or the next

    def reap(self) -> None:
        """Kill the process if it still runs and forget it."""
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5.0)
            if not self.process.is_alive():
                self.process.close()
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn, self.pid = None, None, None
        self.current_job, self.progress, self.ready_at = None, None, None

    def describe(self, now: float) -> dict[str, Any]:
        """The worker as /health shows it (plus last_error for the reason line)."""
        return {
            "id": self.id,
            "state": self.state,
            "device": self.device,
            "pid": self.pid,
            "current_job": self.current_job or (self.jobs[0].id if self.jobs else None),
            "restarts": self.restarts,
            "last_heartbeat_age_s": (
                round(now - self.last_heartbeat, 3) if self.last_heartbeat else None
            ),
            "last_error": self.last_error,
        }
