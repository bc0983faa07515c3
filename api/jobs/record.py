"""The job: one typed record from intake to result (the HTTP view is api.http.schemas.JobOut)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from analyzers.options import AnalysisOptions
from analyzers.schema import Source, VideoInfo

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed", "cancelled")
FINAL: frozenset[JobStatus] = frozenset({"done", "failed", "cancelled"})
CallbackStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Progress:
    """How far the model is with a running job."""

    frames_done: int
    frames_total: int


@dataclass(frozen=True)
class Callback:
    """Where the job's end is announced, and how delivery went so far."""

    url: str
    status: CallbackStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass
class Job:
    """One video to analyse, its frozen options, and what became of it.

    ``upload`` is the spooled video; api.jobs.files.UploadFiles owns its life.
    The id is a fresh uuid of its own, never derived from the file name.
    """

    id: str
    options: AnalysisOptions
    upload: Path
    filename: str | None
    size_bytes: int
    duration_s: float
    status: JobStatus = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    crashes: int = 0
    worker_id: int | None = None
    model_started_at: float | None = None
    model_finished_at: float | None = None
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    source_url: str | None = None
    callback: Callback | None = None
    #: the probe made at intake, so the worker does not read the headers again; None in
    #: rows stored before it was kept (the worker then probes)
    probe: VideoInfo | None = None
    #: where a linked video came from (result["source"]); None for an upload
    source: Source | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL
