"""HTTP routes: analyze, jobs, health, metrics, admin. Errors become JSON here only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from analyzers.errors import AnalyzerError, InvalidOptionError, QueueFullError, VideoTooLongError
from analyzers.pipeline import AnalysisOptions, parse_aspects
from analyzers.probe import probe_video
from api import __version__
from api.jobs import Job, JobStatus
from api.models import (
    ErrorBody,
    HealthOut,
    JobCounts,
    JobOut,
    JobPage,
    LiveOut,
    ModelOut,
    ReleaseOut,
    WorkerOut,
    job_out,
)
from api.uploads import Upload, UploadError, spool_multipart

if TYPE_CHECKING:
    from api.app import AppContext

router = APIRouter()

#: HTTP status for each error code; anything unknown is a server-side 500
STATUS_BY_CODE = {
    "missing_file": 400,
    "empty_file": 400,
    "bad_multipart": 400,
    "too_many_files": 400,
    "not_found": 404,
    "job_not_found": 404,
    "cancelled": 409,
    "not_cancellable": 409,
    "upload_too_large": 413,
    "field_too_large": 413,
    "not_a_video": 415,
    "not_multipart": 415,
    "invalid_input": 422,
    "invalid_option": 422,
    "no_video_stream": 422,
    "no_decodable_frames": 422,
    "video_too_long": 422,
    "decode_timeout": 422,
    "worker_crashed": 502,
    "queue_full": 503,
    "draining": 503,
    "model_load_failed": 503,
    "timed_out": 504,
}

#: room for the multipart boundaries and text fields around the file itself
MULTIPART_OVERHEAD = 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ApiError(Exception):
    """An error reply decided by a route."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or status_for(code)
        self.headers, self.job_id = headers, job_id


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 500)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    job_id: str | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if job_id:
        error["job_id"] = job_id
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Missing or empty file, malformed form",
        404: "No such job",
        409: "The job cannot be cancelled (running or finished), or was cancelled",
        413: "Upload larger than the size limit",
        415: "Not a video, or not multipart/form-data",
        422: "Invalid option (unknown aspect, frames out of range), audio only, too long,"
        " or undecodable",
        500: "Analysis failed on the server",
        502: "The worker crashed twice on this video",
        503: "Queue full or shutting down (see Retry-After)",
        504: "The analysis ran past its time limit",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


def _ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


_ANALYZE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video"},
                        "frames": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "frames to sample",
                        },
                        "aspects": {
                            "type": "string",
                            "description": "comma-separated, e.g. scene,people,mood",
                        },
                        "wait": {"type": "boolean", "default": True},
                    },
                }
            }
        },
    }
}


@router.post(
    "/analyze",
    summary="Analyse one video",
    response_model=JobOut,
    status_code=200,
    responses={
        202: {
            "model": JobOut,
            "description": "Accepted; poll the Location (wait=false or wait limit)",
        },
        **_errors(400, 409, 413, 415, 422, 500, 502, 503, 504),
    },
    openapi_extra=_ANALYZE_BODY,
)
async def analyze(
    request: Request,
    frames: Annotated[
        int | None, Query(description="frames to sample (form field also accepted)")
    ] = None,
    aspects: Annotated[
        str | None, Query(description="comma-separated aspects (form field also accepted)")
    ] = None,
    wait: Annotated[bool | None, Query(description="wait for the result (default true)")] = None,
) -> Response:
    """Upload a video as multipart field `file`; options as form fields or query parameters.

    With wait=true (default) the reply is 200 with the job and its result, or the
    job's error status if it failed; past the wait limit 202 and the job to poll.
    """
    ctx = _ctx(request)
    _refuse_if_busy(ctx)
    upload = await _receive(ctx, request)
    job: Job | None = None
    event: asyncio.Event | None = None
    try:
        job, do_wait = await _make_job(ctx, upload, frames, aspects, wait)
        event = ctx.waiters.register(job.id) if do_wait else None
        await run_in_threadpool(ctx.supervisor.submit, job)
    except BaseException as exc:
        if job is not None and event is not None:
            ctx.waiters.unregister(job.id, event)
        if upload.path is not None:
            upload.path.unlink(missing_ok=True)
        if isinstance(exc, QueueFullError):
            retry = str(ctx.supervisor.retry_after_s())
            ctx.metrics.rejected.labels(exc.code).inc()
            raise ApiError(exc.code, exc.message, headers={"Retry-After": retry}) from None
        if isinstance(exc, (ApiError, AnalyzerError)):
            ctx.metrics.rejected.labels(exc.code).inc()
        raise
    if event is not None:
        try:
            await asyncio.wait_for(event.wait(), ctx.settings.wait_timeout_s)
        except asyncio.TimeoutError:
            pass  # 202 below: the client polls
        finally:
            ctx.waiters.unregister(job.id, event)
    return await run_in_threadpool(_job_reply, ctx, job.id)


async def _receive(ctx: AppContext, request: Request) -> Upload:
    """Spool the body to disk; 413 from Content-Length alone when it already says too big."""
    limit = int(ctx.settings.max_upload_mb * 1024 * 1024)
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise UploadError(
                413,
                "upload_too_large",
                f"the file is larger than the {ctx.settings.max_upload_mb:g} MB upload limit",
            )
        return await spool_multipart(
            request.headers.get("content-type", ""),
            request.stream(),
            ctx.settings.uploads_dir,
            limit,
        )
    except UploadError as exc:
        ctx.metrics.rejected.labels(exc.code).inc()
        raise ApiError(exc.code, exc.message, status=exc.status) from None


async def _make_job(
    ctx: AppContext,
    upload: Upload,
    frames: int | None,
    aspects: str | None,
    wait: bool | None,
) -> tuple[Job, bool]:
    """Validate options and probe the file in this process, so bad input never queues."""
    path = upload.path
    if path is None:
        raise ApiError("missing_file", "no file: send the video in the form field 'file'")
    options = _options(ctx, upload.fields, frames, aspects)
    do_wait = _flag(upload.fields.get("wait"), wait, default=True)
    info = await run_in_threadpool(probe_video, path)
    if info.duration_s > ctx.settings.max_duration_s:
        raise VideoTooLongError(
            f"the video is {info.duration_s:.1f} s long; the limit is "
            f"{ctx.settings.max_duration_s:g} s"
        )
    job = Job(
        id=path.name,
        status="queued",
        created_at=time.time(),
        upload_path=str(path.resolve()),
        frames=options.frames,
        aspects=options.aspects,
        filename=upload.filename,
        size_bytes=upload.size,
        duration_s=info.duration_s,
    )
    return job, do_wait


def _refuse_if_busy(ctx: AppContext) -> None:
    if ctx.supervisor.draining:
        raise ApiError(
            "draining",
            "the service is shutting down; retry in a few seconds",
            headers={"Retry-After": "10"},
        )
    if ctx.supervisor.queue_full():
        retry = str(ctx.supervisor.retry_after_s())
        raise ApiError(
            "queue_full",
            f"the queue is full ({ctx.settings.queue_size} videos waiting); retry in {retry} s",
            headers={"Retry-After": retry},
        )


def _options(
    ctx: AppContext, fields: dict[str, str], frames: int | None, aspects: str | None
) -> AnalysisOptions:
    raw_frames = fields.get("frames")
    if raw_frames is not None:
        try:
            frames = int(raw_frames.strip())
        except ValueError:
            raise InvalidOptionError(f"frames must be a whole number, got {raw_frames!r}") from None
    aspect_text = fields.get("aspects", aspects)
    return AnalysisOptions(
        frames=frames if frames is not None else ctx.settings.frames,
        aspects=parse_aspects(aspect_text),
        max_frames=ctx.settings.max_frames,
        max_duration_s=ctx.settings.max_duration_s,
        decode_timeout_s=ctx.settings.decode_timeout_s,
    ).validated()


def _flag(raw: str | None, query: bool | None, *, default: bool) -> bool:
    if raw is None:
        return default if query is None else query
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidOptionError(f"wait must be true or false, got {raw!r}")


def _job_reply(ctx: AppContext, job_id: str) -> Response:
    job = ctx.store.get(job_id)
    if job is None:  # only if the database was replaced under us
        raise ApiError("job_not_found", f"no job {job_id}")
    body = job_out(job).model_dump(mode="json")
    if job.status == "done":
        return JSONResponse(body, status_code=200)
    if job.status in ("failed", "cancelled"):
        code = job.error_code or "analysis_failed"
        return error_response(status_for(code), code, job.error_message or code, job_id=job.id)
    return JSONResponse(body, status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get(
    "/jobs/{job_id}",
    summary="One job: status, result or error, timings",
    response_model=JobOut,
    responses=_errors(404),
)
async def get_job(request: Request, job_id: str) -> JobOut:
    job = await run_in_threadpool(_ctx(request).store.get, job_id)
    if job is None:
        raise ApiError("job_not_found", f"no job {job_id}")
    return job_out(job)


@router.get("/jobs", summary="Recent jobs, newest first (paginated)", response_model=JobPage)
async def list_jobs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
) -> JobPage:
    jobs, total = await run_in_threadpool(
        lambda: _ctx(request).store.page(limit=limit, offset=offset, status=status)
    )
    following = offset + len(jobs)
    return JobPage(
        jobs=[job_out(j, with_result=False) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a queued job",
    response_model=JobOut,
    responses=_errors(404, 409),
)
async def cancel_job(request: Request, job_id: str) -> JobOut:
    ctx = _ctx(request)
    if not await run_in_threadpool(ctx.supervisor.cancel, job_id):
        job = await run_in_threadpool(ctx.store.get, job_id)
        if job is None:
            raise ApiError("job_not_found", f"no job {job_id}")
        raise ApiError(
            "not_cancellable",
            f"the job is {job.status}; only a queued job can be cancelled",
            job_id=job_id,
        )
    job = await run_in_threadpool(ctx.store.get, job_id)
    assert job is not None
    return job_out(job)


@router.get(
    "/health",
    summary="Readiness: 200 when a worker can analyse, 503 with a reason otherwise",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Not ready (same body, with reason)"}},
)
async def health(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    body = await run_in_threadpool(health_body, ctx)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.ready else 503)


def health_body(ctx: AppContext) -> HealthOut:
    snap = ctx.supervisor.snapshot()
    workers = snap["workers"]
    loaded = [w for w in workers if w["state"] in ("READY", "BUSY")]
    errors = [w["last_error"] for w in workers if w["last_error"]]
    ready = bool(loaded) and not snap["draining"]
    if snap["draining"]:
        status, reason = "draining", "shutting down: finishing running jobs, accepting none"
    elif not loaded and not snap["ever_ready"] and not errors:
        status, reason = "starting", f"workers are loading the model (0/{len(workers)} ready)"
    elif not loaded:
        status = "degraded"
        reason = "no worker is ready" + (f": {errors[0]}" if errors else " (restarting)")
    elif len(loaded) < len(workers):
        status = "degraded"
        reason = f"{len(loaded)}/{len(workers)} workers ready" + (
            f"; {errors[0]}" if errors else ""
        )
    else:
        status, reason = "ready", None
    return HealthOut(
        status=status,  # type: ignore[arg-type]
        ready=ready,
        reason=reason,
        model=_model_out(ctx, snap["model"]),
        workers=[WorkerOut(**{k: v for k, v in w.items() if k != "last_error"}) for w in workers],
        queue_depth=snap["queue_depth"],
        busy_workers=snap["busy_workers"],
        jobs=JobCounts(**ctx.store.counts()),
        uptime_s=round(time.time() - ctx.started_at, 3),
        version=__version__,
    )


def _model_out(ctx: AppContext, reported: dict[str, Any] | None) -> ModelOut:
    s = ctx.settings
    if reported:
        return ModelOut(
            name=reported.get("name", s.model),
            quantization=reported.get("quantization", s.quantization),
            analyzer=reported.get("analyzer", s.analyzer),
            test_model=bool(reported.get("test_model", False)),
        )
    from analyzers.test_model import TEST_MODEL_MARKER

    test_model = (Path(s.model) / TEST_MODEL_MARKER).is_file()
    return ModelOut(
        name=s.model, quantization=s.quantization, analyzer=s.analyzer, test_model=test_model
    )


@router.get(
    "/health/live", summary="Liveness: 200 while the process answers", response_model=LiveOut
)
async def live() -> LiveOut:
    return LiveOut()


@router.get(
    "/metrics",
    summary="Prometheus metrics (tiktok_analyzer_*)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    m = _ctx(request).metrics
    return Response(m.render(), media_type=m.content_type)


@router.post(
    "/admin/release-memory",
    summary="Ask idle workers to release cached GPU memory",
    response_model=ReleaseOut,
)
async def release_memory(request: Request) -> ReleaseOut:
    asked = await run_in_threadpool(_ctx(request).supervisor.release_memory)
    return ReleaseOut(workers_asked=asked)
