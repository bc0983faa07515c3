"""The JSON bodies the HTTP API returns, as pydantic models (they drive /docs)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from analyzers.schema import AnalysisResult
from api.jobs.record import Callback, CallbackStatus, Job, JobStatus, Progress
from api.masking import masked_url
from api.pool.snapshot import WorkerState


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. not_a_video, queue_full, timed_out")
    message: str = Field(description="one line for a person")
    job_id: str | None = Field(None, description="set when the error concerns an accepted job")


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"error": {"code": "not_a_video", "message": "clip.mp4 is not a video file"}}
            ]
        }
    }

    error: ErrorDetail


class JobTimings(BaseModel):
    queued_s: float | None = Field(None, description="from upload accepted to first start")
    run_s: float | None = Field(None, description="from first start to final state")
    total_s: float | None = Field(None, description="from upload accepted to final state")
    model_started_at: datetime | None = Field(None, description="the model began this video")
    model_finished_at: datetime | None = Field(None, description="the model finished it")


class ProgressOut(BaseModel):
    frames_done: int = Field(description="frames the model has described so far")
    frames_total: int


class CallbackOut(BaseModel):
    """Delivery of the job's completion callback."""

    url: str = Field(description="the callback URL, user-info and query values masked")
    status: CallbackStatus = Field(description="pending until delivered or given up")
    attempts: int
    last_error: str | None = None
    delivered_at: datetime | None = None


class JobOut(BaseModel):
    """A job: its state, its options, and its result or error once final."""

    id: str
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = Field(description="times a worker started it (a crashed worker's job re-runs)")
    filename: str | None = Field(None, description="the client's file name, for reference only")
    size_bytes: int
    video_duration_s: float
    frames: int
    aspects: list[str]
    worker_id: int | None = None
    progress: ProgressOut | None = Field(None, description="while running: the model's progress")
    timings: JobTimings
    result: AnalysisResult | None = Field(None, description="present when status is done")
    error: ErrorDetail | None = Field(None, description="present when failed or cancelled")
    source_url: str | None = Field(
        None,
        description="the link the video was downloaded from, user-info and query values masked",
    )
    callback: CallbackOut | None = Field(None, description="present when callback_url was given")


class JobPage(BaseModel):
    """Recent jobs, newest first, without their results (GET /jobs/{id} has them)."""

    jobs: list[JobOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="offset of the next page; null at the end")
    next_after: str | None = Field(
        None, description="cursor for the next page (?after=); null when this page is not full"
    )


class ModelOut(BaseModel):
    name: str
    quantization: str
    analyzer: str
    test_model: bool
    experimental: bool = Field(default=False, description="true for the video-llm analyzer")


class WorkerOut(BaseModel):
    id: int
    state: WorkerState
    device: str
    pid: int | None = Field(description="the worker's process (a Ray actor's process on its node)")
    node: str | None = Field(None, description="Ray node id; null for the local backend")
    current_job: str | None
    restarts: int
    last_heartbeat_age_s: float | None


class JobCounts(BaseModel):
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int


class HealthOut(BaseModel):
    """Readiness of the service; HTTP 200 when ready, 503 otherwise (same body)."""

    status: Literal["ready", "starting", "degraded", "draining"]
    ready: bool
    reason: str | None
    model: ModelOut
    workers: list[WorkerOut]
    queue_depth: int
    busy_workers: int
    backend: Literal["local", "ray"]
    jobs: JobCounts
    uptime_s: float
    version: str


class LiveOut(BaseModel):
    status: Literal["alive"] = "alive"


class ReleaseOut(BaseModel):
    workers_asked: int = Field(description="idle workers asked to release cached GPU memory")


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def job_out(job: Job, *, with_result: bool = True, progress: Progress | None = None) -> JobOut:
    """The API view of a stored job."""
    error = (
        ErrorDetail(code=job.error_code, message=job.error_message or job.error_code, job_id=job.id)
        if job.error_code
        else None
    )
    result = (
        AnalysisResult.model_validate(job.result)
        if with_result and job.result is not None
        else None
    )
    return JobOut(
        id=job.id,
        status=job.status,
        created_at=_ts(job.created_at) or datetime.now(timezone.utc),
        started_at=_ts(job.started_at),
        finished_at=_ts(job.finished_at),
        attempts=job.attempts,
        filename=job.filename,
        size_bytes=job.size_bytes,
        video_duration_s=job.duration_s,
        frames=job.options.frames,
        aspects=list(job.options.aspects),
        worker_id=job.worker_id,
        progress=(
            ProgressOut(frames_done=progress.frames_done, frames_total=progress.frames_total)
            if progress is not None and job.status == "running"
            else None
        ),
        timings=JobTimings(
            queued_s=_span(job.created_at, job.started_at),
            run_s=_span(job.started_at, job.finished_at),
            total_s=_span(job.created_at, job.finished_at),
            model_started_at=_ts(job.model_started_at),
            model_finished_at=_ts(job.model_finished_at),
        ),
        result=result,
        error=error,
        source_url=masked_url(job.source_url) if job.source_url else None,
        callback=_callback_out(job.callback),
    )


def _callback_out(callback: Callback | None) -> CallbackOut | None:
    if callback is None:
        return None
    return CallbackOut(
        url=masked_url(callback.url),
        status=callback.status,
        attempts=callback.attempts,
        last_error=callback.last_error,
        delivered_at=_ts(callback.delivered_at),
    )
